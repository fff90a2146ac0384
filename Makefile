# PGXS build of the pg_tenant_backup module (make, make install,
# make installcheck). src/core's unit tests are built by CMakeLists.txt.
EXTENSION = pg_tenant_backup
MODULE_big = pg_tenant_backup
DATA = $(wildcard sql/pg_tenant_backup--*.sql)

CORE_SRCS = $(wildcard src/core/*.cpp)
PG_SRCS = $(wildcard src/pg/*.cpp)
OBJS = $(CORE_SRCS:.cpp=.o) $(PG_SRCS:.cpp=.o)

REGRESS = $(patsubst sql/%.sql,%,$(filter-out sql/pg_tenant_backup--%,$(wildcard sql/*.sql)))
REGRESS_OPTS = --inputdir=. --load-extension=pg_tenant_backup

PG_CONFIG ?= pg_config

# Bitcode for the JIT would need clang; this module has no hot expressions.
override with_llvm = no

# --gc-sections drops the functions and data no entry point reaches (with
# -ffunction-sections -fdata-sections below, each is a section of its own).
# The version script exports only what the server looks up by name (see it).
SHLIB_LINK += -lstdc++ -lzstd -lcrypto -Wl,--gc-sections -Wl,--version-script=src/pg/exports.map

PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# Debug info was 46 of the library's 50 MB, and the server loads the
# library into every backend: the default build has none. make DEBUG=1
# keeps -g; the Debian package builds so, and dh_strip moves the debug info
# into the -dbgsym package.
ifeq ($(DEBUG),1)
PTB_DEBUG = -g
else
override CXXFLAGS := $(filter-out -g,$(CXXFLAGS))
PTB_DEBUG =
endif

PTB_CXXFLAGS = -std=c++20 -fPIC -Wall -Wextra -Wno-unused-parameter -Wno-missing-field-initializers -Wno-register -Isrc \
	-ffunction-sections -fdata-sections

# src/core gets no server include path: a server header there cannot build.
src/core/%.o: src/core/%.cpp $(wildcard src/core/*.hpp)
	@scripts/check-core-purity.sh src/core
	$(CXX) $(PTB_CXXFLAGS) -O2 $(PTB_DEBUG) -c -o $@ $<

# src/pg holds two kinds of file. Server files call the server's C API and
# are listed here; every other file holds logic and builds without the
# server's include path, so a server header there, even one included by
# another header, cannot build (docs/architecture.md, "Server files and
# logic files"). A new file is a logic file unless it is added here.
PG_SERVER_SRCS = $(addprefix src/pg/,$(addsuffix .cpp, \
	autonomous backup_create_prune_delete_keep \
	backup_verify_read_download_upload boundary capture capture_plugin \
	column_types copy_feed copy_section cron_run entry_point export file_io json_row_stream \
	row_fingerprints \
	import_functions interrupts module owner_rights progress \
	progress_function restore_functions schedule_functions scheduler server_log \
	server_names session setting_levels settings spi spilled_rows srf stats \
	strong_random subtransaction))
PG_SERVER_OBJS = $(PG_SERVER_SRCS:.cpp=.o)
PG_LOGIC_OBJS = $(filter-out $(PG_SERVER_OBJS),$(PG_SRCS:.cpp=.o))

# Every function the server calls by name goes through entry() (src/pg/entry_point.hpp).
$(PG_SERVER_OBJS): src/pg/%.o: src/pg/%.cpp $(wildcard src/pg/*.hpp src/core/*.hpp)
	@scripts/check-entry-points.sh src/pg
	$(CXX) $(CXXFLAGS) $(PTB_DEBUG) $(PTB_CXXFLAGS) $(CPPFLAGS) -c -o $@ $<

# No $(CPPFLAGS): it holds the server's include directories.
$(PG_LOGIC_OBJS): src/pg/%.o: src/pg/%.cpp $(wildcard src/pg/*.hpp src/core/*.hpp)
	@scripts/check-entry-points.sh src/pg
	@$(CXX) $(CXXFLAGS) $(PTB_DEBUG) $(PTB_CXXFLAGS) -c -o $@ $< 2>$@.err; status=$$?; cat $@.err >&2; \
	if [ $$status != 0 ] && grep "fatal error: .*No such file or directory" $@.err | grep -qvE "error: (pg|core)/"; then \
	  echo "src/pg/$*.cpp is a logic file and may not see a server header (above:" \
	    "the include chain). Call the server through a server file's function, or" \
	    "list the file in the Makefile's PG_SERVER_SRCS (docs/architecture.md)." >&2; fi; \
	rm -f $@.err; exit $$status

# Supported: PostgreSQL 15 to 18 (src/pg/server.hpp holds what differs).
ifeq ($(shell test $(VERSION_NUM) -lt 150000 -o $(VERSION_NUM) -ge 190000 && echo no),no)
$(warning pg_tenant_backup supports PostgreSQL 15 to 18; $(VERSION) is untested)
endif
