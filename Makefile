# pg_journey: PGXS build of the extension plus the project's own targets.
#   make demo   install what is missing, build, install, run a journey end to end
#   make test   install what is missing, build, install, run every test suite
#   make bench  build, install, run the benchmarks (bench/) on a throwaway cluster
#   make bench-compare BASE=rev   engine figures of BASE and this tree, alternated
#   make bench-citus  1 node vs a Citus coordinator + 2 workers (bench/citus.cpp)
#   make fuzz   build the libFuzzer targets (test/fuzz/), run each for FUZZ_SECONDS
#   make chaos  the long crash/kill/disk-full run (test/integration/chaos.cpp)
#   make soak   30 minutes of steady load with a snapshot held (bench/soak.cpp)
EXTENSION = pg_journey
MODULE_big = pg_journey
PGFILEDESC = "pg_journey - customer journeys inside PostgreSQL"
EXTVERSION = $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" pg_journey.control)

# The install script of the version in development is assembled from the area
# sources in src/sql: the state (types, tables; installed once) and the code
# (functions, views, triggers, grants; idempotent, so the update script reruns
# it). An update script is src/sql/updates/OLD--NEW.sql (what changes the state
# of OLD) followed by the code. Released scripts are frozen in sql/ and never
# edited (docs/development.md, "Releases"). The prelude (journey._alter, by
# which scripts change tables on a Citus install too) comes first in both.
SQL_PRELUDE = src/sql/prelude.sql
SQL_STATE = src/sql/types.sql src/sql/tables.sql
SQL_CODE = $(addprefix src/sql/,native.sql internal.sql audiences.sql authoring.sql editing.sql \
  lifecycle.sql runtime.sql outbox.sql schedules.sql views.sql analytics.sql security.sql delivery.sql \
  citus.sql simulate.sql)
SQL_UPDATES = $(wildcard src/sql/updates/*--$(EXTVERSION).sql)
DATA = $(filter-out $(DATA_built),$(wildcard sql/pg_journey--*.sql))
DATA_built = sql/pg_journey--$(EXTVERSION).sql \
  $(patsubst src/sql/updates/%,sql/pg_journey--%,$(SQL_UPDATES))

CORE_SRCS = $(sort $(wildcard src/core/*.cpp))
PG_SRCS = $(sort $(wildcard src/pg/*.cpp))
# The core (src/core, no PostgreSQL in it) is compiled once, by CMake, into
# build/libpgj_core.a, which the extension, journeyctl and the unit tests all
# link; PGXS compiles only src/pg.
OBJS = $(PG_SRCS:.cpp=.o)
# PGJ_SANITIZE=OFF: a build/ configured with the sanitizers once would put them in the extension.
CMAKE_CONFIGURE = cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DPGJ_REQUIRE_PQXX=ON -DPGJ_SANITIZE=OFF >/dev/null

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
export PG_CONFIG
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

# pg_regress (sql/ + expected/) and isolation specs (test/isolation/), run by
# `make installcheck` against the throwaway cluster tools/test.sh starts.
REGRESS = setup bridge audiences validation authoring lifecycle engine engine_policies triggers  batch_audiences \
  proof_authoring proof_runtime proof_triggers \
  ddl_audience_alter ddl_register_owner ddl_drop_journey \
  runtime_audiences runtime_ids runtime_clock runtime_archive runtime_import \
  editing outbox_requeue outbox_nulls \
  trust_engine_templates trust_engine_infinity trust_engine_migration trust_engine_validation \
  trust_engine_steps \
  capture_triggers \
  analytics_counting analytics_reports funnel_fix_failures funnel_fix_reports simulate sim_fix_probe \
  report_fix_reports \
  engagement_recipients engagement_suppressions engagement_events engagement_preview \
  delivery_hardening \
  architecture_errors architecture_policies arch_review_policies arch_review_deep_errors \
  audience_cols_classes audience_cols_contexts \
  citus_absent citus_runtime_single citus_audience_single \
  split_nested import_keys \
  probe4_reports one_ending \
  fix_engine_call_endings fix_engine_generated \
  fix_input_audiences fix_input_guard fix_input_track fix_input_args \
  g1_suppress \
  g2_contexts \
  errors9_context \
  input9_templates input9_entities input9_zones \
  policy9b_date_due \
  policy9_core \
  claim9_batch \
  parse9_configs \
  core9c_decisions \
  r9_migration
REGRESS_OPTS = --load-extension=pg_journey
ISOLATION = concurrent_tick track_vs_exit concurrent_enroll claim_race update_same_customer update_vs_tick exit_vs_send \
  deadlock_retry publish_vs_tick behaviour_lock_timeout suppression_vs_claim simulate_concurrent \
  compact_activity_hours concurrent_reentry
ISOLATION_OPTS = --load-extension=pg_journey --inputdir=test/isolation --outputdir=output_iso

# No LLVM bitcode: it would need clang and buys nothing for this code.
override with_llvm = no

ifneq ($(PGXS),)
include $(PGXS)
endif

# CMake knows when the core library is stale; asked each time (a second when
# nothing changed), the extension is linked again each time too.
# PGJ_CORE_LIB=PATH links a core library built elsewhere instead (a copy of
# this tree that differs in its version only: test/citus/upgrade.sh).
.PHONY: core-lib
ifdef PGJ_CORE_LIB
CORE_LIB = $(PGJ_CORE_LIB)
else
CORE_LIB = build/libpgj_core.a
$(CORE_LIB): core-lib
endif
core-lib:
	$(CMAKE_CONFIGURE)
	cmake --build build -j2 --target pgj_core
$(shlib): $(CORE_LIB)
SHLIB_LINK += $(CORE_LIB)

# Server headers are system headers to us, so -Werror applies to our code only.
PG_CXXFLAGS = -std=c++17 -fPIC -Wall -Wextra -Werror -O2 -g \
  -isystem $(includedir_server) -Isrc -DPGJ_EXTVERSION='"$(EXTVERSION)"'
override CXXFLAGS := $(PG_CXXFLAGS)
SHLIB_LINK += -lstdc++

%.o: %.cpp
	$(CXX) $(CXXFLAGS) $(filter-out -I$(includedir_server),$(CPPFLAGS)) -MMD -MP -c -o $@ $<

-include $(OBJS:.o=.d)

# The version is compiled in (the library refuses another installed version).
src/pg/version.o: pg_journey.control

# tools/check-sql-scripts.py refuses a bare DDL statement or data change of a
# journey table in the code and update files (ALTER EXTENSION UPDATE on a Citus
# install needs journey._alter: docs/development.md). test/citus/upgrade.sh's
# demonstration of such a statement failing sets CHECK_SQL=true.
CHECK_SQL ?= python3 tools/check-sql-scripts.py
sql/pg_journey--$(EXTVERSION).sql: $(SQL_PRELUDE) $(SQL_STATE) $(SQL_CODE) pg_journey.control tools/check-sql-scripts.py
	$(CHECK_SQL) $(SQL_CODE)
	{ printf -- '-- pg_journey %s: generated from src/sql by make; edit those files, not this one.\n' '$(EXTVERSION)'; \
	  printf '\\echo Use "CREATE EXTENSION pg_journey" to load this file. \\quit\n'; \
	  for f in $(SQL_PRELUDE) $(SQL_STATE) $(SQL_CODE); do printf '\n-- ==== %s\n' $$f; cat $$f; done; } >$@

sql/pg_journey--%--$(EXTVERSION).sql: src/sql/updates/%--$(EXTVERSION).sql $(SQL_PRELUDE) $(SQL_CODE) pg_journey.control tools/check-sql-scripts.py
	$(CHECK_SQL) $< $(SQL_CODE)
	{ printf -- '-- pg_journey %s: generated from src/sql by make; edit those files, not this one.\n' '$*--$(EXTVERSION)'; \
	  printf '\\echo Use "ALTER EXTENSION pg_journey UPDATE TO '"'"'%s'"'"'" to load this file. \\quit\n' '$(EXTVERSION)'; \
	  for f in $(SQL_PRELUDE) $< $(SQL_CODE); do printf '\n-- ==== %s\n' $$f; cat $$f; done; } >$@

# journeyctl (src/cli) with the builder's front end (web/: npm ci + esbuild),
# built by CMake in build/ and installed beside the server's programs.
.PHONY: journeyctl install-journeyctl uninstall-journeyctl
all: journeyctl
# After the core library: two CMake builds in one build directory at once would race.
journeyctl: core-lib
	cmake --build build -j2 --target journeyctl

install: install-journeyctl
install-journeyctl: journeyctl
	$(MKDIR_P) '$(DESTDIR)$(bindir)'
	$(INSTALL_PROGRAM) build/journeyctl '$(DESTDIR)$(bindir)/journeyctl'

uninstall: uninstall-journeyctl
uninstall-journeyctl:
	rm -f '$(DESTDIR)$(bindir)/journeyctl'

.PHONY: deps unit test demo bench bench-citus bench-compare fuzz chaos soak format format-check clean-local list-regress list-isolation

deps:
	@bash tools/deps.sh

# PGJ_REQUIRE_PQXX: the integration programs and benchmarks are part of what
# make test and make bench run, so a missing libpqxx stops the build here.
unit:
	$(CMAKE_CONFIGURE)
	cmake --build build -j2

# The test lists tools/test.sh checks every test file against.
list-regress:
	@echo $(REGRESS)
list-isolation:
	@echo $(ISOLATION)

# Builds run two jobs: the machines have 2 cores (a serial build of the extension took
# 9 minutes of a clean CI run).
test: deps
	$(MAKE) -j2 all
	$(MAKE) install
	$(MAKE) unit
	bash tools/test.sh

demo: deps
	$(MAKE) -j2 all
	$(MAKE) install
	bash tools/demo.sh

bench: deps
	$(MAKE) -j2 all
	$(MAKE) install
	$(MAKE) unit
	bash tools/bench.sh

# 1 node vs a Citus coordinator + 2 worker nodes (bench/citus.cpp, docs/benchmarks.md):
# needs Citus in PG_CONFIG's PostgreSQL (docs/scale-out.md). PGJ_BENCH_ENROLLMENTS,
# PGJ_CITUS_PARKED; CITUS_PORT_BASE (default 5432).
bench-citus: deps
	$(MAKE) -j2 all
	$(MAKE) install
	$(MAKE) unit
	CITUS_PGJ_ENABLED=off bash tools/citus.sh run build/bench/citus

# Before/after engine figures of a change: BASE's build and this tree's, alternated.
bench-compare: deps
	bash tools/bench-compare.sh $(or $(BASE),HEAD~1)

CLI_SRCS = $(sort $(wildcard src/cli/*.cpp src/cli/embed/*.cpp))

# libFuzzer targets (clang, ASan + UBSan), FUZZ_SECONDS each; see docs/fuzzing.md.
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: deps
	FUZZ_SECONDS=$(FUZZ_SECONDS) bash tools/fuzz.sh

# The distributed suite (test/citus/*.sh) on a throwaway Citus coordinator + 2
# workers (tools/citus.sh); needs Citus installed in PG_CONFIG's PostgreSQL
# (docs/scale-out.md). make test runs it too when Citus is installed.
.PHONY: test-citus
test-citus: deps
	$(MAKE) -j2 all
	$(MAKE) install
	bash tools/test-citus.sh

# The long reliability runs (make test runs short versions of both).
chaos: deps
	$(MAKE) -j2 all
	$(MAKE) install
	$(MAKE) unit
	bash tools/chaos.sh

soak:
	@bash tools/deps.sh gnuplot-nox
	$(MAKE) -j2 all
	$(MAKE) install
	$(MAKE) unit
	bash tools/soak.sh

format:
	clang-format -i $(CORE_SRCS) $(PG_SRCS) $(CLI_SRCS) $(wildcard src/*/*.hpp test/unit/*.cpp test/integration/*.cpp bench/*.cpp)

format-check:
	clang-format --dry-run -Werror $(CORE_SRCS) $(PG_SRCS) $(CLI_SRCS) $(wildcard src/*/*.hpp test/unit/*.cpp test/integration/*.cpp bench/*.cpp)

clean: clean-local
clean-local:
	rm -rf build results output_iso regression.diffs regression.out src/*/*.d
