# servos — one binary, built against the system's libraries.
#   make            build build/servos
#   make deps       apt-get install the build and test dependencies (idempotent)
#   make check      deps + format-check + build + every test (what CI runs)
#   make check-vm   the runtime and stack tests inside a Debian 12 guest (its
#                   6.1 kernel, pure cgroup v2) under qemu; VM_TESTS="tests/
#                   NN-foo.t ..." to choose (tests/vm/README.md)
#   make asan       build build-asan/servos with AddressSanitizer + UBSan
#   make fuzz       build and run the libFuzzer targets (FUZZ_SECONDS each)
#   make bench      benchmarks against peers (tests/bench/)
#   make format     clang-format the C sources; make format-check to verify
#   make install    servos, servos(1) and its bash completion under
#                   $(DESTDIR)$(PREFIX) (/usr/local); make uninstall

CC      ?= cc
CSTD    := -std=gnu11
WARN    := -Wall -Wextra -Wno-unused-parameter -Wshadow -Wformat=2
ifneq ($(findstring clang,$(CC)),clang)
WARN    += -Wno-format-truncation
endif
ifneq ($(CI),)
WARN    += -Werror
endif
ifneq ($(WERROR),)
WARN    += -Werror
endif
OPT     ?= -O2 -g
# The libraries' flags come from build/config.mk, which .ci/configure
# writes once the packages are there: computed when make reads this file,
# they would be empty on a fresh machine, where `make quickstart` installs
# them only after (see deps). Goals that install or clean do not need it.
B       ?= build
CONFIG  := $(B)/config.mk
NO_CONFIG_GOALS := deps clean format format-check quickstart check check-vm uninstall hotlist
ifneq ($(or $(filter-out $(NO_CONFIG_GOALS),$(MAKECMDGOALS)),$(if $(MAKECMDGOALS),,all)),)
include $(CONFIG)
endif
CFLAGS_ALL  = $(CSTD) $(OPT) $(WARN) -I. -Iengine -I$(SQLITE_DIR) $(PKG_CFLAGS) -D_GNU_SOURCE $(CFLAGS)
# --gc-sections drops what nothing calls (most of SQLite); packed relative
# relocations make the loader's work at every start smaller (glibc 2.36).
LDFLAGS_ALL = -Wl,--gc-sections -Wl,-z,pack-relative-relocs $(LDFLAGS)
LDLIBS_ALL  = -Wl,--as-needed $(PKG_LIBS) -ldl -lpthread $(LDLIBS)

# SQLite is compiled in from its amalgamation (third_party/sqlite/README.md
# says which release, from where, and why each option): one function a
# section, and the functions every command runs (hot.list, made by
# `make hotlist`) first in the text, so that a command faults in a few
# hundred kilobytes of it rather than all. Not instrumented in the ASan
# build: it is not our code, and it compiles once for every build.
SQLITE_DIR    := third_party/sqlite
SQLITE_OBJ    ?= build/third_party/sqlite3.o
SQLITE_CFLAGS := -O2 -g -ffunction-sections -fdata-sections -DSQLITE_THREADSAFE=1 \
    -DSQLITE_DEFAULT_MEMSTATUS=0 -DSQLITE_DQS=0 -DSQLITE_LIKE_DOESNT_MATCH_BLOBS \
    -DSQLITE_MAX_EXPR_DEPTH=0 -DSQLITE_OMIT_DEPRECATED -DSQLITE_OMIT_PROGRESS_CALLBACK \
    -DSQLITE_OMIT_SHARED_CACHE -DSQLITE_USE_ALLOCA -DSQLITE_OMIT_LOAD_EXTENSION \
    -DSQLITE_OMIT_DECLTYPE -DSQLITE_OMIT_JSON -DSQLITE_OMIT_UTF16 -DSQLITE_OMIT_COMPLETE \
    -DSQLITE_OMIT_GET_TABLE -DSQLITE_OMIT_TCL_VARIABLE -DSQLITE_OMIT_DESERIALIZE \
    -DSQLITE_OMIT_INCRBLOB -DSQLITE_OMIT_TRACE -DSQLITE_UNTESTABLE \
    -DSQLITE_DEFAULT_WAL_SYNCHRONOUS=1 -DHAVE_FDATASYNC=1 -DHAVE_LOCALTIME_R=1 \
    -DHAVE_STRCHRNUL=1 -DHAVE_ISNAN=1 -DHAVE_POSIX_FALLOCATE=1 -DHAVE_MALLOC_H=1 \
    -DHAVE_MALLOC_USABLE_SIZE=1 -DSQLITE_DEFAULT_PCACHE_INITSZ=0 \
    -DSQLITE_DEFAULT_LOOKASIDE=600,20 -DSQLITE_DEFAULT_WAL_AUTOCHECKPOINT=32 \
    -DSQLITE_DEFAULT_JOURNAL_SIZE_LIMIT=131072 $(SQLITE_EXTRA)

SRC     := $(wildcard engine/*/*.c manifests/*.c) $(filter-out lua/embedgen.c,$(wildcard lua/*.c))
EMBED   := $(sort $(wildcard stdlib/*.lua platforms/*.lua)) $(sort $(wildcard engine/api/web/*))
HDRS    := $(wildcard engine/*/*.h manifests/*.h lua/*.h)
FORMAT_SRC := $(SRC) $(HDRS) lua/embedgen.c engine/net/bpf/pubnat.bpf.c $(wildcard tests/unit/*.c tests/fuzz/*.c tests/probes/*.c tests/bench/*.c)

OBJ      = $(patsubst %.c,$(B)/%.o,$(SRC)) $(B)/lua/embedded.o

.PHONY: all deps check check-vm test asan fuzz bench format format-check clean quickstart install uninstall hotlist

all: $(B)/servos

$(B)/servos: $(OBJ) $(SQLITE_OBJ)
	$(CC) $(CFLAGS_ALL) -o $@ $^ $(LDFLAGS_ALL) $(LDLIBS_ALL)

# The hot functions' sections are renamed .text.sorted.NNNNN, which the
# linker's default script puts first, in that order.
# The stamp's name carries a hash of the options: changing one rebuilds.
SQLITE_STAMP := $(SQLITE_OBJ).$(shell echo '$(SQLITE_CFLAGS)' | cksum | cut -d' ' -f1)
$(SQLITE_STAMP):
	@mkdir -p $(dir $@) && rm -f $(SQLITE_OBJ).[0-9]* && touch $@
$(SQLITE_OBJ): $(SQLITE_DIR)/sqlite3.c $(SQLITE_DIR)/sqlite3.h $(SQLITE_DIR)/hot.list \
               $(SQLITE_DIR)/hotsections.sh $(SQLITE_STAMP)
	@mkdir -p $(dir $@)
	$(CC) $(SQLITE_CFLAGS) -c -o $@.raw $<
	$(SQLITE_DIR)/hotsections.sh $@.raw $(SQLITE_DIR)/hot.list >$@.args
	objcopy @$@.args $@.raw $@
	@rm -f $@.raw $@.args

$(CONFIG): Makefile .ci/configure
	@mkdir -p $(B)
	@./.ci/configure >$@.tmp && mv $@.tmp $@

# Each object depends on the headers it includes (-MMD writes the list
# beside it; -MP keeps a removed header from breaking the build).
$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -c -o $@ $<

-include $(OBJ:.o=.d)

# The published ports' fast path is a BPF program (engine/net/pubnat.h),
# compiled by clang and carried inside the binary.
BPF_CC     ?= clang
BPF_CFLAGS := -O2 -g -target bpf -Wall -Iengine -I/usr/include/$(shell $(CC) -print-multiarch 2>/dev/null)

$(B)/engine/net/pubnat.bpf.o: engine/net/bpf/pubnat.bpf.c engine/net/pubnat_maps.h
	@mkdir -p $(dir $@)
	$(BPF_CC) $(BPF_CFLAGS) -c -o $@ $<

$(B)/engine/net/pubnat_blob.o: engine/net/pubnat_blob.c $(B)/engine/net/pubnat.bpf.o
	$(CC) $(CFLAGS_ALL) -DSV_PUBNAT_OBJ='"$(B)/engine/net/pubnat.bpf.o"' -c -o $@ $<

# It compiles stdlib/ with the Lua servos links, so its bytecode loads.
$(B)/embedgen: lua/embedgen.c
	@mkdir -p $(B)
	$(CC) -O1 $(PKG_CFLAGS) -o $@ $< $(PKG_LIBS) -lm -ldl

$(B)/lua/embedded.c: $(B)/embedgen $(EMBED)
	@mkdir -p $(B)/lua
	$(B)/embedgen $@ $(EMBED)

$(B)/lua/embedded.o: $(B)/lua/embedded.c lua/embedded.h
	$(CC) $(CFLAGS_ALL) -c -o $@ $<

deps:
	@./.ci/deps

ASAN_VARS := B=build-asan OPT="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer" \
             LDFLAGS="-fsanitize=address,undefined"
asan:
	@$(MAKE) --no-print-directory $(ASAN_VARS) all

# Unit tests (cmocka) link the engine objects minus main.
UNIT_SRC := $(wildcard tests/unit/*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRC))
LIB_OBJ   = $(filter-out $(B)/engine/cli/%.o,$(OBJ)) $(SQLITE_OBJ)

$(B)/tests/%: tests/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -MMD -MP -o $@ $< $(LIB_OBJ) $(LDFLAGS_ALL) $(LDLIBS_ALL) -lcmocka

-include $(UNIT_BIN:=.d)

unit: $(UNIT_BIN)

# One sub-make for the ASan build: two at once (asan, unit) would write
# the same objects under -j.
test: all unit
	@$(MAKE) --no-print-directory $(ASAN_VARS) all unit >/dev/null
	prove -f tests/*.t

# The format first: it takes a second, the tests take minutes.
check: deps
	@$(MAKE) --no-print-directory format-check
	@$(MAKE) --no-print-directory test

# The guest image is built once (a few minutes) and cached under
# /var/cache/servos-vm; each run boots it afresh with this build/servos.
VM_TESTS ?=
check-vm: deps
	@./.ci/deps --vm
	@$(MAKE) --no-print-directory all
	tests/vm/run.sh $(VM_TESTS)

FUZZ_SECONDS ?= 60
FUZZ_FLAGS = -O1 -g -fsanitize=fuzzer,address,undefined -D_GNU_SOURCE $(PKG_CFLAGS)
fuzz:
	$(MAKE) B=build-fuzz CC=clang OPT="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" \
	    LDFLAGS="-fsanitize=address,undefined"
	for t in yaml envirofile request containerfile; do \
	    clang $(FUZZ_FLAGS) -I. -Iengine -I$(SQLITE_DIR) -o build-fuzz/fuzz_$$t tests/fuzz/fuzz_$$t.c \
	        $(filter-out build-fuzz/engine/cli/%.o,$(patsubst $(B)/%,build-fuzz/%,$(OBJ))) \
	        $(SQLITE_OBJ) -Wl,--as-needed $(PKG_LIBS) -lm -ldl -lpthread || exit 1; \
	    mkdir -p build-fuzz/corpus-$$t; cp tests/fuzz/seeds-$$t/* build-fuzz/corpus-$$t/; \
	    for d in examples/*/; do for f in $$d*; do case "$$t:$$f" in \
	        envirofile:*.lua|yaml:*.yaml) cp "$$f" build-fuzz/corpus-$$t/ex-$$(basename $$d)-$$(basename $$f);; \
	    esac; done; done; \
	    build-fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 -timeout=10 \
	        -max_len=65536 -print_final_stats=1 build-fuzz/corpus-$$t \
	        >build-fuzz/fuzz_$$t.log 2>&1 || { tail -n 60 build-fuzz/fuzz_$$t.log; exit 1; }; \
	    echo "fuzz_$$t: $$(grep -E '^stat::number_of_executed_units' build-fuzz/fuzz_$$t.log | \
	        awk '{print $$2}') runs in $(FUZZ_SECONDS) s, $$(ls build-fuzz/corpus-$$t | wc -l) \
	        corpus files, no crash"; \
	done

bench: deps
	@./.ci/deps --bench
	@$(MAKE) --no-print-directory all
	tests/bench/run

# deps first, then a make that reads build/config.mk with the packages
# in place: a fresh machine works on the first run, with -j too.
quickstart: deps
	@$(MAKE) --no-print-directory all
	$(B)/servos config -q examples/quickstart && echo "examples/quickstart: the graph is valid"
	$(B)/servos up -d examples/quickstart
	@echo "from the host, through the published port:"
	env -u http_proxy -u HTTP_PROXY timeout 10 busybox wget -q -O - http://127.0.0.1:8080/
	@echo "from the client service, by the name web:"
	@for i in $$(seq 50); do $(B)/servos logs -p quickstart client | grep -q . && break; sleep 0.2; done
	$(B)/servos logs -p quickstart client
	$(B)/servos ps -p quickstart
	$(B)/servos down -p quickstart -t 1


# The manual page and the completion are written by the binary from the
# text of its own --help, so they say what this build does.
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
INSTALLED   := $(DESTDIR)$(BINDIR)/servos $(DESTDIR)$(MANDIR)/man1/servos.1 \
               $(DESTDIR)$(BASHCOMPDIR)/servos

$(B)/servos.1: $(B)/servos
	$(B)/servos help --man >$@.tmp && mv $@.tmp $@

$(B)/servos.bash: $(B)/servos
	$(B)/servos completion bash >$@.tmp && mv $@.tmp $@

install: $(B)/servos $(B)/servos.1 $(B)/servos.bash
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(BASHCOMPDIR)
	install -m 755 $(B)/servos $(DESTDIR)$(BINDIR)/servos
	install -m 644 $(B)/servos.1 $(DESTDIR)$(MANDIR)/man1/servos.1
	install -m 644 $(B)/servos.bash $(DESTDIR)$(BASHCOMPDIR)/servos

# The three files only: the directories may hold other programs' files.
uninstall:
	rm -f $(INSTALLED)

format:
	clang-format -i $(FORMAT_SRC)

format-check:
	@clang-format --dry-run --Werror $(FORMAT_SRC) && echo "format: ok"

clean:
	rm -rf build build-asan build-fuzz build-hot

# Re-record which SQLite functions go first in the text (third_party/sqlite/).
hotlist:
	third_party/sqlite/hotlist.sh
