# canaryd: an HTTP/1.1 canary router configured with Istio YAML.
#
#   make            build build/canaryd
#   make run        install what is missing, build, start the demo (conf/demo.yaml)
#   make test       install what is missing, build, unit + end-to-end tests, then the
#                   same under AddressSanitizer + UBSan, then short fuzz runs
#   make bench      benchmarks against nginx and HAProxy (bench/)
#   make fuzz       build the libFuzzer targets (clang)
#   make fmt / fmt-check

CC       ?= cc
CLANG    ?= clang
PKGS     := libevent yaml-0.1 libpcre2-8
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_CFLAGS := $(shell pkg-config --cflags cmocka 2>/dev/null)
CMOCKA_LIBS   := $(shell pkg-config --libs cmocka 2>/dev/null)

WARN     := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Werror
# CFLAGS/LDLIBS may be given on the command line (e.g. sanitizers); the
# project's own flags are added on top of them.
CFLAGS   ?= -O2 -g
ALL_CFLAGS = $(CFLAGS) -std=c11 -D_GNU_SOURCE -pthread $(WARN) -Iinclude $(PKG_CFLAGS)
ALL_LDLIBS = $(LDLIBS) $(PKG_LIBS) -pthread -lm

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRCS     := $(sort $(wildcard src/*.c src/*/*.c))
LIB_SRCS := $(filter-out src/main.c,$(SRCS))
UNIT_SRCS := $(sort $(wildcard tests/unit/*/test_*.c))
HEADERS  := $(sort $(wildcard include/canaryd/*.h include/canaryd/*/*.h))

# Build variants: normal (build/) and sanitized (build/asan/).
B        ?= build
OBJS     := $(patsubst src/%.c,$(B)/obj/%.o,$(SRCS))
LIB_OBJS := $(patsubst src/%.c,$(B)/obj/%.o,$(LIB_SRCS))
UNIT_BINS := $(addprefix $(B)/tests/,$(basename $(notdir $(UNIT_SRCS))))

.PHONY: all deps run test check check-unit check-e2e check-asan unit e2e fuzz fuzz-run \
        bench fmt fmt-check headers compat-table fuzz-dict clean

all: $(B)/canaryd

$(B)/obj/%.o: src/%.c $(HEADERS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(B)/tests $(B)/fuzz:
	mkdir -p $@

$(B)/libcanaryd.a: $(LIB_OBJS)
	rm -f $@
	ar rcs $@ $^

$(B)/canaryd: $(B)/obj/main.o $(B)/libcanaryd.a
	$(CC) $(ALL_CFLAGS) -o $@ $^ $(ALL_LDLIBS)

# Unit tests: tests/unit/<layer>/test_<mod>.c, cmocka, built as $(B)/tests/test_<mod>.
# Per-test extra flags (e.g. --wrap mocks) go in LDFLAGS_test_<mod>.
vpath test_%.c $(sort $(dir $(UNIT_SRCS)))
$(B)/tests/%: %.c $(B)/libcanaryd.a $(HEADERS) $(wildcard tests/unit/*/*.h) | $(B)/tests
	$(CC) $(ALL_CFLAGS) $(CMOCKA_CFLAGS) -Wno-missing-prototypes -o $@ $< $(B)/libcanaryd.a \
	    $(LDFLAGS_$*) $(CMOCKA_LIBS) $(ALL_LDLIBS)

# The resolver boundary is mocked in the dns unit test.
LDFLAGS_test_dns := -Wl,--wrap=evdns_base_resolve_ipv4,--wrap=evdns_base_resolve_ipv6

deps:
	@bash tests/deps.sh

unit: $(UNIT_BINS)
	@bash tests/run_unit.sh $(B) $(UNIT_BINS)

e2e: $(B)/canaryd
	@bash tests/e2e/run.sh $(B)/canaryd

# One pass: unit then end-to-end for build variant $(B).
check: deps
	@$(MAKE) --no-print-directory B=$(B) $(B)/canaryd $(UNIT_BINS)
	@$(MAKE) --no-print-directory B=$(B) unit e2e

check-asan: deps
	@$(MAKE) --no-print-directory B=build/asan CFLAGS="-O1 -g $(SAN_FLAGS)" \
	    LDLIBS="$(SAN_FLAGS)" check

test: deps
	@bash tests/test_all.sh

# libFuzzer targets (clang from Debian's packages).
FUZZ_SRCS := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BINS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
FUZZ_FLAGS := -O1 -g -std=c11 -D_GNU_SOURCE -pthread -Iinclude $(PKG_CFLAGS) \
              -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined

fuzz: $(FUZZ_BINS)

build/fuzz/%: tests/fuzz/%.c $(LIB_SRCS) $(HEADERS) | build/fuzz
	$(CLANG) $(FUZZ_FLAGS) -o $@ $< $(LIB_SRCS) $(PKG_LIBS) -lm

fuzz-run: fuzz
	@bash tests/fuzz/run.sh $(FUZZ_SECONDS)

run: deps $(B)/canaryd
	@bash conf/demo.sh $(B)/canaryd

bench: deps $(B)/canaryd
	@bash bench/run.sh

# Rewrites README.md's Istio compatibility table from the schema tables.
compat-table: $(B)/tests/test_schema
	CANARYD_COMPAT_WRITE=1 $(B)/tests/test_schema >/dev/null

# Rewrites the loader's libFuzzer dictionary from the schema tables.
fuzz-dict: $(B)/tests/test_schema
	CANARYD_DICT_WRITE=tests/fuzz/fuzz_conf.dict $(B)/tests/test_schema >/dev/null

headers:
	@for h in $(HEADERS); do \
	    echo '#include "'$${h#include/}'"' | $(CC) $(ALL_CFLAGS) -x c -fsyntax-only - || exit 1; \
	done

fmt:
	clang-format -i $(SRCS) $(HEADERS) tests/unit/*/*.c tests/unit/*/*.h tests/fuzz/*.c

fmt-check:
	clang-format --dry-run --Werror $(SRCS) $(HEADERS)

clean:
	rm -rf build
