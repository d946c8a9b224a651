# pg_journey: PGXS build of the extension plus the project's own targets.
#   make demo   install what is missing, build, install, run a journey end to end
#   make test   install what is missing, build, install, run every test suite
#   make bench  build, install, run the benchmarks (bench/) on a throwaway cluster
EXTENSION = pg_journey
MODULE_big = pg_journey
DATA = $(wildcard sql/pg_journey--*.sql)
PGFILEDESC = "pg_journey - customer journeys inside PostgreSQL"

CORE_SRCS = $(sort $(wildcard src/core/*.cpp))
PG_SRCS = $(sort $(wildcard src/pg/*.cpp))
OBJS = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)

PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs 2>/dev/null)

# pg_regress (sql/ + expected/) and isolation specs (test/isolation/), run by
# `make installcheck` against the throwaway cluster tools/test.sh starts.
REGRESS = setup bridge audiences validation authoring lifecycle engine engine_policies triggers
REGRESS_OPTS = --load-extension=pg_journey
ISOLATION = concurrent_tick track_vs_exit concurrent_enroll claim_race update_same_customer update_vs_tick exit_vs_send
ISOLATION_OPTS = --load-extension=pg_journey --inputdir=test/isolation --outputdir=output_iso

# No LLVM bitcode: it would need clang and buys nothing for this code.
override with_llvm = no

ifneq ($(PGXS),)
include $(PGXS)
endif

# Server headers are system headers to us, so -Werror applies to our code only.
PG_CXXFLAGS = -std=c++17 -fPIC -Wall -Wextra -Werror -O2 -g \
  -isystem $(includedir_server) -Isrc
override CXXFLAGS := $(PG_CXXFLAGS)
SHLIB_LINK += -lstdc++

%.o: %.cpp
	$(CXX) $(CXXFLAGS) $(filter-out -I$(includedir_server),$(CPPFLAGS)) -MMD -MP -c -o $@ $<

-include $(OBJS:.o=.d)

.PHONY: deps unit test demo bench format format-check clean-local

deps:
	@bash tools/deps.sh

unit:
	cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build build -j2

test: deps
	$(MAKE) all
	$(MAKE) install
	$(MAKE) unit
	bash tools/test.sh

demo: deps
	$(MAKE) all
	$(MAKE) install
	bash tools/demo.sh

bench: deps
	$(MAKE) all
	$(MAKE) install
	$(MAKE) unit
	bash tools/bench.sh

format:
	clang-format -i $(CORE_SRCS) $(PG_SRCS) $(wildcard src/*/*.hpp test/unit/*.cpp test/integration/*.cpp bench/*.cpp)

format-check:
	clang-format --dry-run -Werror $(CORE_SRCS) $(PG_SRCS) $(wildcard src/*/*.hpp test/unit/*.cpp test/integration/*.cpp bench/*.cpp)

clean: clean-local
clean-local:
	rm -rf build results output_iso regression.diffs regression.out src/*/*.d
