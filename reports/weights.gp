# weights.gp — the task weights a learned loss weighting (GradNorm, uncertainty,
# DWA) gave each step of one run per ablation variant, from
# reports/data/weights_NAME.dat (step, w_ner, w_qa; reports/pretrained_results.py):
#   gnuplot -e "data='reports/data'; outdir='reports'; names='gradnorm-0.16 uncertainty'" reports/weights.gp
# Writes outdir/loss_weights.{png,svg}: NER solid, QA dashed, one colour per variant.
if (!exists("data")) data = 'reports/data'
if (!exists("outdir")) outdir = 'reports'
if (!exists("names")) names = ''
set grid lc rgb "#dddddd"
set key outside right top box noenhanced
set xlabel "step"
set ylabel "task weight"
set title "Learned task weights (pretrained minilm-l6, each variant's first seed)\nNER solid, QA dashed" font ",11"
do for [term in "png svg"] {
    if (term eq "png") { set terminal pngcairo size 980,520 enhanced font "DejaVu Sans,11" } \
    else { set terminal svg size 980,520 enhanced font "DejaVu Sans,11" background "white" }
    set output outdir.'/loss_weights.'.term
    plot for [i=1:words(names)] data.'/weights_'.word(names, i).'.dat' u 1:2 w l lw 2 lc i dt 1 t word(names, i).' NER', \
         for [i=1:words(names)] data.'/weights_'.word(names, i).'.dat' u 1:3 w l lw 2 lc i dt 2 t word(names, i).' QA'
    set output
}
