# sweeps.gp — the multi-task model's score against one swept setting (dropout, or
# how many encoder layers the tasks share), mean ± sample std over seeds, from
# reports/data/sweep_KIND.dat (written by reports/pretrained_results.py):
#   gnuplot -e "data='reports/data'; kind='dropout'; xlabel='dropout'; what='dropout'; outdir='reports'" reports/sweeps.gp
# Writes outdir/sweep_KIND.{png,svg}. Columns: value, NER test F1 mean, std,
# QA dev F1 mean, std, seeds.
if (!exists("data")) data = 'reports/data'
if (!exists("outdir")) outdir = 'reports'
if (!exists("kind")) kind = 'dropout'
if (!exists("xlabel")) xlabel = kind
if (!exists("what")) what = kind
file = data.'/sweep_'.kind.'.dat'
set grid lc rgb "#dddddd"
set key outside top center horizontal box
set xlabel xlabel
set ylabel "NER F1, CoNLL-2003 test (%)"
set y2label "QA F1, SQuAD v1.1 dev (%)"
set ytics nomirror
set y2tics
set offsets graph 0.05, graph 0.05, 0, 0
set title "Multi-task model (pretrained minilm-l6) against ".what.": mean ± std over seeds" font ",12"
do for [term in "png svg"] {
    if (term eq "png") { set terminal pngcairo size 820,520 enhanced font "DejaVu Sans,11" } \
    else { set terminal svg size 820,520 enhanced font "DejaVu Sans,11" background "white" }
    set output outdir.'/sweep_'.kind.'.'.term
    plot file u 1:2:3 w yerrorlines lw 2 pt 7 lc rgb "#d62728" t "NER F1 (test)", \
         '' u 1:4:5 axes x1y2 w yerrorlines lw 2 pt 5 lc rgb "#2ca02c" t "QA F1 (dev)"
    set output
}
