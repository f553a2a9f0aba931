# dashboard_panels.gp — the six panels, called inside a multiplot by
# dashboard.gp (which loads the has_* flags from data/vars.gp). Each plot
# command is assembled from the runs that exist, so a missing single-task or
# multi-task run leaves its curve out instead of failing.

set grid lc rgb "#dddddd"
set key top right box opaque samplen 2 font ",9"
c_mtl = "#1f77b4"; c_ner = "#d62728"; c_qa = "#2ca02c"

# ---- 1: overall loss ---------------------------------------------------------
set title "Overall loss (λ-weighted sum, moving average)"
set xlabel "optimiser step"
set ylabel "loss"
unset logscale
cmd = ""
if (has_mtl) cmd = cmd . sprintf("'%s' u 1:4 w l lw 2 lc rgb c_mtl t 'train, multi-task',", f('loss_mtl.dat'))
if (has_mtl && has_eval_mtl) cmd = cmd . sprintf("'%s' u 1:4 w lp pt 7 ps 0.8 dt 2 lc rgb c_mtl t 'dev, multi-task',", f('eval_mtl.dat'))
if (has_ner) cmd = cmd . sprintf("'%s' u 1:4 w l lw 1.5 lc rgb c_ner t 'train, NER only',", f('loss_ner.dat'))
if (has_ner && has_eval_ner) cmd = cmd . sprintf("'%s' u 1:4 w lp pt 5 ps 0.7 dt 2 lc rgb c_ner t 'dev, NER only',", f('eval_ner.dat'))
if (has_qa) cmd = cmd . sprintf("'%s' u 1:4 w l lw 1.5 lc rgb c_qa t 'train, QA only',", f('loss_qa.dat'))
if (has_qa && has_eval_qa) cmd = cmd . sprintf("'%s' u 1:4 w lp pt 9 ps 0.8 dt 2 lc rgb c_qa t 'dev, QA only',", f('eval_qa.dat'))
if (strlen(cmd) > 0) eval "plot " . cmd[1:strlen(cmd)-1]; else set label 1 "no runs" at graph 0.5,0.5 center; plot NaN notitle; unset label 1

# ---- 2: per-task losses ---------------------------------------------------------
set title "Per-task training loss (solid: multi-task, dashed: single-task)"
cmd = ""
if (has_mtl) cmd = cmd . sprintf("'%s' u 1:2 w l lw 2 lc rgb c_ner t 'NER, multi-task',", f('loss_mtl.dat'))
if (has_ner) cmd = cmd . sprintf("'%s' u 1:2 w l lw 1.5 dt 2 lc rgb c_ner t 'NER, single-task',", f('loss_ner.dat'))
if (has_mtl) cmd = cmd . sprintf("'%s' u 1:3 w l lw 2 lc rgb c_qa t 'QA, multi-task',", f('loss_mtl.dat'))
if (has_qa) cmd = cmd . sprintf("'%s' u 1:3 w l lw 1.5 dt 2 lc rgb c_qa t 'QA, single-task',", f('loss_qa.dat'))
if (strlen(cmd) > 0) eval "plot " . cmd[1:strlen(cmd)-1]; else plot NaN notitle

# ---- 3: learning rate ------------------------------------------------------------
set title "Learning-rate schedule (linear warmup, linear decay)"
set ylabel "learning rate"
set format y "%.1te%T"
cmd = ""
if (has_mtl) cmd = cmd . sprintf("'%s' u 1:5 w l lw 2 lc rgb c_mtl t 'multi-task',", f('loss_mtl.dat'))
if (has_ner) cmd = cmd . sprintf("'%s' u 1:5 w l lw 1.5 dt 2 lc rgb c_ner t 'NER only',", f('loss_ner.dat'))
if (has_qa) cmd = cmd . sprintf("'%s' u 1:5 w l lw 1.5 dt 3 lc rgb c_qa t 'QA only',", f('loss_qa.dat'))
if (strlen(cmd) > 0) eval "plot " . cmd[1:strlen(cmd)-1]; else plot NaN notitle
set format y "%g"

# ---- 4: parameter distribution -------------------------------------------------
set title "Parameter distribution (log scale)"
set xlabel ""
set ylabel "parameters"
set logscale y
set yrange [1:*]
set style fill solid 0.8 border -1
set boxwidth 0.6
set xtics rotate by -15 font ",9"
unset key
if (has_params) plot f('params.dat') u 0:2:xtic(1) w boxes lc rgb c_mtl notitle, \
     '' u 0:($2*1.5):(sprintf("%.0f", $2)) w labels font ",9" notitle; \
   else plot NaN notitle
unset logscale y
set yrange [*:*]
set xtics norotate font ",10"

# ---- 5: parameter sharing ------------------------------------------------------
set title "Parameter sharing: one shared encoder vs two single-task models"
set ylabel "parameters (millions)"
set style data histograms
set style histogram rowstacked
set boxwidth 0.5
set key top left
set yrange [0:*]
if (has_params) plot f('sharing.dat') u 2:xtic(1) t "shared encoder" lc rgb c_mtl, \
     '' u 3 t "task-specific heads" lc rgb "#ff7f0e", \
     '' u 0:($2+$3):(sprintf("%.2fM (heads %.0f)", $2+$3, $3*1e6)) w labels offset 0,0.8 notitle; \
   else plot NaN notitle
set yrange [*:*]

# ---- 6: metrics ----------------------------------------------------------------
set title "Scores (mean ± std over seeds; QA on SQuAD dev)"
set ylabel "score (%)"
set style histogram errorbars gap 2 lw 1
set boxwidth 0.9
set yrange [0:*]
set key top right
# only the series some run has (an all-NaN histogram series is an error):
# NER columns need a NER or MTL run, QA columns a QA or MTL run
with_ner = has_metrics && (has_ner || has_mtl)
with_qa = has_metrics && (has_qa || has_mtl)
if (with_ner && with_qa) plot f('metrics.dat') u 2:3:xtic(1) t "NER F1 (test)" lc rgb c_ner, \
     '' u 4:5 t "QA EM (dev)" lc rgb "#9467bd", '' u 6:7 t "QA F1 (dev)" lc rgb c_qa; \
   else if (with_ner) plot f('metrics.dat') u 2:3:xtic(1) t "NER F1 (test)" lc rgb c_ner; \
   else if (with_qa) plot f('metrics.dat') u 4:5:xtic(1) t "QA EM (dev)" lc rgb "#9467bd", \
     '' u 6:7 t "QA F1 (dev)" lc rgb c_qa; \
   else plot NaN notitle
set yrange [*:*]
set style data points
