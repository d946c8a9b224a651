# Plot of a soak CSV (bench/soak.cpp): gnuplot -e "csv='x.csv'; png='x.png'" tools/soak.gp
set datafile separator ','
set terminal pngcairo size 1200,1300 font ',10'
set output png
set key autotitle columnhead outside right
set multiplot layout 4,1 title 'pg_journey soak: steady offered load, 2 workers, a snapshot held (shaded)'
set xlabel 'elapsed (s)'
set style fill transparent solid 0.12 noborder
held(col) = column(col) > 0 ? 1 : NaN
set ylabel 'per second'
plot csv using 1:(held(11) * 1e9) with filledcurves y1=0 lc rgb 'gray' notitle, \
     csv using 1:3 with lines lw 2 title 'offered enrollments/s', \
     csv using 1:4 with lines lw 2 title 'events/s', \
     csv using 1:5 with lines lw 2 title 'customer updates/s', \
     csv using 1:6 with lines lw 2 title 'transitions/s (activity rows)', \
     csv using 1:7 with lines lw 2 title 'messages sent/s'
set ylabel 'ms'
plot csv using 1:(held(11) * 1e9) with filledcurves y1=0 lc rgb 'gray' notitle, \
     csv using 1:9 with lines lw 2 title 'enrollment latency p50', \
     csv using 1:10 with lines lw 2 title 'enrollment latency p99'
set ylabel 'rows'
plot csv using 1:(held(11) * 1e9) with filledcurves y1=0 lc rgb 'gray' notitle, \
     csv using 1:8 with lines lw 2 title 'backlog (due now)', \
     csv using 1:12 with lines lw 2 title 'dead tuples enrollments', \
     csv using 1:13 with lines lw 2 title 'dead tuples customers', \
     csv using 1:14 with lines lw 2 title 'dead tuples messages'
set ylabel 'MB'
plot csv using 1:(held(11) * 1e9) with filledcurves y1=0 lc rgb 'gray' notitle, \
     csv using 1:16 with lines lw 2 title 'size enrollments', \
     csv using 1:17 with lines lw 2 title 'size customers', \
     csv using 1:18 with lines lw 2 title 'size messages'
unset multiplot
