# kernels.gp — per-op time share and % of peak from `mtl bench-kernels`:
#   gnuplot reports/kernels.gp        (from the repository root)
#   gnuplot -e "cpu='runs/bench-kernels-cpu.csv'; cuda='runs/bench-kernels-cuda.csv'; out='reports/kernels'" reports/kernels.gp
# Reads the CSV columns device,op,shape,calls,median_us,gflops,gbs,pct_peak
# (one row per op in a fixed order; the peak_* rows have calls 0 and are left
# out). When the CUDA CSV exists it is drawn beside the CPU bars (same op
# order). Writes out.png and out.svg with two panels:
#   top:    share of the step's kernel time, calls * median_us / sum (%)
#   bottom: % of peak (sgemm GFLOP/s for GEMM ops, copy GB/s for the others;
#           in-cache ops can exceed 100% of the DRAM copy bandwidth)
if (!exists("cpu")) cpu = 'runs/bench-kernels-cpu.csv'
if (!exists("cuda")) cuda = 'runs/bench-kernels-cuda.csv'
if (!exists("out")) out = 'reports/kernels'

set datafile separator ","
have_cuda = system("test -r '".cuda."' && echo 1 || echo 0") + 0

# total kernel time per step (us), for the shares
stats cpu every ::1 using ($4 * $5) name "CPU" nooutput
if (have_cuda) { stats cuda every ::1 using ($4 * $5) name "GPU" nooutput }

# which runs: the CSVs' "# ..." provenance lines (mtl bench-kernels writes one)
prov(f) = system("sed -n '1{s/^# //;s/; BLAS [^;]*//;p}' '".f."' 2>/dev/null | cut -c1-260")
# series titles carry the shapes, which may differ between the two CSVs
shape_of(f) = system("sed -n '1s/.*--preset \\([^ ]*\\) --batch \\([0-9]*\\) --seq \\([0-9;]*\\).*/\\1 B\\2 T\\3/p' '".f."' 2>/dev/null | tr -d ';'")
cpu_title = "cpu ".shape_of(cpu)
cuda_title = "cuda ".shape_of(cuda)
runs_note = "cpu: ".prov(cpu)
if (have_cuda) { runs_note = runs_note."\ncuda: ".prov(cuda) }

share(total) = (column(4) > 0 ? 100.0 * column(4) * column(5) / total : NaN)
pct(unused) = (column(4) > 0 && strcol(8) ne "" ? column(8) : NaN)

set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics lc rgb "#dddddd"
set key top right box opaque
set xtics rotate by -55 noenhanced font ",8" nomirror
set bmargin 12

do for [term in "png svg"] {
    if (term eq "png") { set terminal pngcairo size 1400,1000 enhanced font "DejaVu Sans,10" } \
    else { set terminal svg size 1400,1000 enhanced font "DejaVu Sans,10" background "white" }
    set output out.'.'.term
    set multiplot layout 2,1 title "mtl bench-kernels: one training step, per op" font ",13"
    set label 99 runs_note at screen 0.01, screen 0.015 left noenhanced font ",7" front

    set title "share of the summed kernel time of a step (%)"
    set ylabel "% of step"
    set yrange [0:*]
    if (have_cuda) {
        plot cpu every ::1 using (share(CPU_sum)):xtic(column(4) > 0 ? strcol(2) : "") title cpu_title noenhanced lc rgb "#1f77b4", \
             cuda every ::1 using (share(GPU_sum)) title cuda_title noenhanced lc rgb "#2ca02c"
    } else {
        plot cpu every ::1 using (share(CPU_sum)):xtic(column(4) > 0 ? strcol(2) : "") title cpu_title noenhanced lc rgb "#1f77b4"
    }

    set title "% of the machine's peak (GEMM ops: sgemm GFLOP/s; others: DRAM copy GB/s, so in-cache ops exceed 100%)"
    set ylabel "% of peak"
    set logscale y
    set yrange [0.1:*]
    set key bottom left box opaque # the bars rarely reach below 1%
    if (have_cuda) {
        plot cpu every ::1 using (pct(0)):xtic(column(4) > 0 ? strcol(2) : "") title cpu_title noenhanced lc rgb "#1f77b4", \
             cuda every ::1 using (pct(0)) title cuda_title noenhanced lc rgb "#2ca02c"
    } else {
        plot cpu every ::1 using (pct(0)):xtic(column(4) > 0 ? strcol(2) : "") title cpu_title noenhanced lc rgb "#1f77b4"
    }
    unset logscale y
    unset label 99
    set key top right box opaque
    unset multiplot
    set output
}
