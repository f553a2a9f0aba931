# ablation.gp — λ and sampling ablation bar charts from reports/data
# (written by reports/write_results.py):
#   gnuplot -e "data='reports/data'; outdir='reports'" reports/ablation.gp
# Writes outdir/ablation_lambda.{png,svg} and outdir/ablation_sampling.{png,svg}
# for the ablations whose runs exist (has_ablation_* in data/vars.gp).
if (!exists("data")) data = 'reports/data'
if (!exists("outdir")) outdir = 'reports'
load data.'/vars.gp'

set style data histograms
set style histogram errorbars gap 2 lw 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics lc rgb "#dddddd"
set key outside top center horizontal box
set ylabel "score (%)"
set yrange [0:*]
set xtics noenhanced

do for [kind in "lambda sampling"] {
    flag = kind eq "lambda" ? has_ablation_lambda : has_ablation_sampling
    if (flag) {
        set title (kind eq "lambda" ? "Loss-weighting ablation (fixed λ_{ner} / λ_{qa}, GradNorm), joint sampling" : \
                   "Task-sampling ablation, λ 1/1") font ",13"
        set xlabel (kind eq "lambda" ? "λ_{ner} / λ_{qa}, or GradNorm α" : "sampling strategy")
        file = data.'/ablation_'.kind.'.dat'
        do for [term in "png svg"] {
            if (term eq "png") { set terminal pngcairo size 900,560 enhanced font "DejaVu Sans,11" } \
            else { set terminal svg size 900,560 enhanced font "DejaVu Sans,11" background "white" }
            set output outdir.'/ablation_'.kind.'.'.term
            plot file u 2:3:xtic(1) t "NER F1 (CoNLL test)" lc rgb "#d62728", \
                 '' u 4:5 t "QA F1 (SQuAD dev)" lc rgb "#2ca02c"
            set output
        }
    }
}
