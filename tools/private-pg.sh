#!/usr/bin/env bash
# Makes a private copy of the PostgreSQL 15 installation in DIR (the server,
# its extensions such as pg_cron and pgTAP, and pg_regress), so that a work
# tree can `make install` and test its own pg_journey without touching the
# system's. PostgreSQL finds its lib and share directories relative to its
# binaries, so the copy works as is. Prints the line to eval:
#   eval "$(tools/private-pg.sh /opt/pgj-mine)"; make test
# The upgrade test uses it to run the released 0.1 library beside this one.
set -euo pipefail
dir=${1:?usage: tools/private-pg.sh DIR}
src_config=${PG_CONFIG_SYSTEM:-/usr/lib/postgresql/15/bin/pg_config}
major=$("$src_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/')
libdir=$(dirname "$("$src_config" --bindir)")       # /usr/lib/postgresql/15
sharedir=$("$src_config" --sharedir)                 # /usr/share/postgresql/15
incdir=$(dirname "$("$src_config" --includedir-server)")  # /usr/include/postgresql/15
if [ ! -x "$dir/usr/lib/postgresql/$major/bin/postgres" ]; then
  mkdir -p "$dir/usr/lib/postgresql" "$dir/usr/share/postgresql" "$dir/usr/include/postgresql"
  cp -a "$libdir" "$dir/usr/lib/postgresql/"
  cp -a "$sharedir" "$dir/usr/share/postgresql/"
  ln -sfn "$incdir" "$dir/usr/include/postgresql/$major"
  chmod 755 "$dir"
fi
echo "export PG_CONFIG=$dir/usr/lib/postgresql/$major/bin/pg_config PGBIN=$dir/usr/lib/postgresql/$major/bin"
