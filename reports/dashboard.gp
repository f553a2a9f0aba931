# dashboard.gp — six-panel training dashboard from reports/data/*.dat
# (written by reports/write_results.py). Run from the repository root:
#   gnuplot -e "data='reports/data'; out='reports/dashboard'" reports/dashboard.gp
# Produces out.png (pngcairo) and out.svg.
#   1 overall train / dev loss   2 per-task losses          3 learning-rate schedule
#   4 parameter distribution     5 parameter sharing        6 metrics (mean ± std over seeds)

if (!exists("data")) data = 'reports/data'
if (!exists("out")) out = 'reports/dashboard'
load data.'/vars.gp'
if (!exists("preset_label")) preset_label = "?"

f(name) = data.'/'.name

# one place for the whole layout, drawn once per terminal
draw_all = 'set multiplot layout 2,3 title "mtl-bench training dashboard (preset ".preset_label.", random init)" font ",16"; \
  call "reports/dashboard_panels.gp" data; unset multiplot'

set terminal pngcairo size 1800,1050 enhanced font "DejaVu Sans,10"
set output out.'.png'
eval draw_all
set output

set terminal svg size 1800,1050 enhanced font "DejaVu Sans,10" background "white"
set output out.'.svg'
eval draw_all
set output
