# roofline.gp — every GEMM-type op of one training step on this machine's
# roofline, fp32 beside bf16 (`mtl bench-kernels`, one CSV per precision):
#   gnuplot reports/roofline.gp          (from the repository root)
#   gnuplot -e "fp32='runs/bench-kernels-cpu.csv'; bf16='runs/bench-kernels-cpu-bf16.csv'; out='reports/roofline'" reports/roofline.gp
# x: arithmetic intensity = FLOPs / compulsory bytes of the op's interface
#    (columns gflops / gbs of the CSV: the same time divides both);
# y: achieved GFLOP/s.
# Roofs, from the peak rows measured in the same runs: min(GEMM peak,
# copy bandwidth x intensity) for fp32 (peak_sgemm) and bf16 (peak_bf16_gemm).
# The memory-bound ops (no FLOPs counted) are not on it: their GB/s against
# the copy peak is the kernels figure's bottom panel. Small ops whose data
# stays in cache can sit above the DRAM slope.
if (!exists("fp32")) fp32 = 'runs/bench-kernels-cpu.csv'
if (!exists("bf16")) bf16 = 'runs/bench-kernels-cpu-bf16.csv'
if (!exists("out")) out = 'reports/roofline'

set datafile separator ","
have_bf16 = system("test -r '".bf16."' && echo 1 || echo 0") + 0
peak(f, row, col) = system("awk -F, '$2 == \"".row."\" { print $".col." }' '".f."' 2>/dev/null") + 0
P32 = peak(fp32, "peak_sgemm", 6)
BW = peak(fp32, "peak_copy", 7)
P16 = have_bf16 ? peak(bf16, "peak_bf16_gemm", 6) : 0
prov(f) = system("sed -n '1{s/^# //;s/; BLAS [^;]*//;p}' '".f."' 2>/dev/null | cut -c1-200")

roof(x, p) = (BW * x < p ? BW * x : p)
gemm(unused) = (column(4) > 0 && column(6) > 0 && column(7) > 0 ? column(6) / column(7) : NaN)

set logscale xy
set xrange [0.5:1000]
set yrange [1:(P16 > P32 ? P16 : P32) * 2]
set xlabel "arithmetic intensity (FLOP / byte of the op's inputs and outputs)"
set ylabel "GFLOP/s"
set grid xtics ytics mxtics mytics lc rgb "#dddddd"
set key bottom right box opaque font ",9"
set title sprintf("roofline: copy %.1f GB/s, sgemm %.0f GFLOP/s%s", BW, P32, P16 > 0 ? sprintf(", bf16 GEMM %.0f GFLOP/s", P16) : "") font ",11"
set label 1 "fp32: ".prov(fp32) at screen 0.01, 0.02 font ",7" noenhanced
if (have_bf16) { set label 2 "bf16: ".prov(bf16) at screen 0.01, 0.045 font ",7" noenhanced }
set bmargin 6
set samples 400

do for [fmt in "pngcairo svg"] {
  if (fmt eq "pngcairo") { set terminal pngcairo size 1100,750 font ",10"; set output out.".png" }
  else { set terminal svg size 1100,750 font ",10" dynamic; set output out.".svg" }
  plot roof(x, P32) with lines lw 2 lc rgb "#1f77b4" title "fp32 roof", \
       fp32 every ::1 using (gemm(0)):6:2 with labels point pt 7 ps 1 lc rgb "#1f77b4" offset 0.8,0.4 left font ",7" noenhanced title "fp32 ops", \
       (have_bf16 ? roof(x, P16) : NaN) with lines lw 2 lc rgb "#d62728" title "bf16 roof", \
       (have_bf16 ? bf16 : fp32) every ::1 using (have_bf16 ? gemm(0) : NaN):6:2 with labels point pt 5 ps 1 lc rgb "#d62728" offset 0.8,-0.4 left font ",7" noenhanced title "bf16 ops"
  unset output
}
