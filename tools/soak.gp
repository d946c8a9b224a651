# Plot of a soak CSV (bench/soak.cpp): gnuplot -e "csv='x.csv'; png='x.png'" tools/soak.gp
# The shaded band is the time the long-running reader held its snapshot.
set datafile separator ','
set terminal pngcairo size 1200,1500 font ',10' noenhanced
set output png
set key autotitle columnhead outside right
set multiplot layout 5,1 title 'pg_journey soak: steady offered load, 2 workers, a snapshot held (shaded)'
set xlabel 'elapsed (s)'
set y2range [0:1]
unset y2tics
set style fill transparent solid 0.15 noborder
set boxwidth 1 relative
shade = "csv using 1:11 axes x1y2 with boxes lc rgb 'gray' notitle"
set ylabel 'per second'
set yrange [0:*]
plot @shade, \
     csv using 1:3 with lines lw 2 title 'offered enrollments/s', \
     csv using 1:4 with lines lw 2 title 'events/s', \
     csv using 1:5 with lines lw 2 title 'customer updates/s', \
     csv using 1:6 with lines lw 2 title 'transitions/s (activity rows)', \
     csv using 1:7 with lines lw 2 title 'messages sent/s'
set ylabel 'ms'
set logscale y
set yrange [1:*]
plot @shade, \
     csv using 1:9 with lines lw 2 title 'enrollment latency p50', \
     csv using 1:10 with lines lw 2 title 'enrollment latency p99'
unset logscale y
set yrange [0:*]
set ylabel 'enrollments'
plot @shade, \
     csv using 1:8 with lines lw 2 title 'backlog (due now)'
set ylabel 'dead tuples'
plot @shade, \
     csv using 1:12 with lines lw 2 title 'journey.enrollments', \
     csv using 1:13 with lines lw 2 title 'customers', \
     csv using 1:14 with lines lw 2 title 'journey.messages'
set ylabel 'MB (table, no indexes)'
plot @shade, \
     csv using 1:16 with lines lw 2 title 'journey.enrollments', \
     csv using 1:17 with lines lw 2 title 'customers', \
     csv using 1:18 with lines lw 2 title 'journey.messages'
unset multiplot
