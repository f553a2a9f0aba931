# gradnorm.gp — GradNorm's learned task weights over training, from
# reports/data/gradnorm_<i>.dat (written by reports/write_results.py from
# each GradNorm run's gradnorm.csv; first seed of each α):
#   gnuplot -e "data='reports/data'; outdir='reports'" reports/gradnorm.gp
# Writes outdir/gradnorm_weights.{png,svg} when such runs exist (n_gradnorm
# in data/vars.gp). w_ner solid, w_qa dashed, one colour per α; the fixed
# λ 1/1 of the static run is the grey line at 1.
if (!exists("data")) data = 'reports/data'
if (!exists("outdir")) outdir = 'reports'
load data.'/vars.gp'
if (n_gradnorm > 0) {
    load data.'/gradnorm_titles.gp'
    set datafile separator whitespace
    set grid lc rgb "#dddddd"
    set key outside right top vertical box noenhanced
    set xlabel "optimiser step"
    set ylabel "task weight w_i (w_{ner} + w_{qa} = 2)"
    set title "GradNorm task weights during multi-task training" font ",13"
    set yrange [0:2]
    colours = "#1f77b4 #ff7f0e #2ca02c #9467bd"
    do for [term in "png svg"] {
        if (term eq "png") { set terminal pngcairo size 900,480 enhanced font "DejaVu Sans,11" } \
        else { set terminal svg size 900,480 enhanced font "DejaVu Sans,11" background "white" }
        set output outdir.'/gradnorm_weights.'.term
        plot for [i=1:n_gradnorm] data.'/gradnorm_'.i.'.dat' u 1:2 w l lw 2 lc rgb word(colours, i) \
                 t 'w_ner, '.gradnorm_title[i], \
             for [i=1:n_gradnorm] data.'/gradnorm_'.i.'.dat' u 1:3 w l lw 2 dt 2 lc rgb word(colours, i) \
                 t 'w_qa, '.gradnorm_title[i], \
             1 w l lw 1 lc rgb "#888888" t "fixed λ 1/1"
        set output
    }
}
