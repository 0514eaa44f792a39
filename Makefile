# Gregor build. `make run` and `make test` are the two commands a new user needs;
# both install missing Debian packages first.

CC        ?= cc
CLANG     ?= clang
BUILD     := build
WARN      := -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter
BASEFLAGS := -std=c17 -D_GNU_SOURCE -Isrc $(WARN) -g -MMD -MP
LIBS      := -lrdkafka -lzstd -llz4 -lsnappy -lz -lpthread -lm
SAN       := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

SRCS      := $(shell find src -name '*.c' | sort)
LIB_SRCS  := $(filter-out src/main.c,$(SRCS))
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
FUZZ_SRCS := $(sort $(wildcard fuzz/fuzz_*.c))

REL_OBJS  := $(patsubst %.c,$(BUILD)/rel/%.o,$(SRCS))
ASAN_OBJS := $(patsubst %.c,$(BUILD)/asan/%.o,$(SRCS))
ASAN_LIB  := $(filter-out $(BUILD)/asan/src/main.o,$(ASAN_OBJS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(BUILD)/asan/tests/%,$(UNIT_SRCS))
FUZZ_BINS := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(FUZZ_SRCS))

.PHONY: all deps run test test-only unit fuzz fuzz-smoke gen clean format-check soak

# Objects made through pattern chains (the fuzz objects) are kept, not
# deleted as intermediates: deleting them races with a parallel make.
.SECONDARY:

all: $(BUILD)/gregor

deps:
	@scripts/install-deps.sh

$(BUILD)/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O2 -c $< -o $@

$(BUILD)/asan/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O1 $(SAN) -c $< -o $@

$(BUILD)/gregor: $(REL_OBJS)
	$(CC) -o $@ $^ $(LIBS)

$(BUILD)/asan/gregor: $(ASAN_OBJS)
	$(CC) $(SAN) -o $@ $^ $(LIBS)

$(BUILD)/asan/tests/%: tests/unit/%.c $(ASAN_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -Itests/unit -O1 $(SAN) -o $@ $< $(ASAN_LIB) $(LIBS)

# The network layer's test under ThreadSanitizer: the event loops run on
# several threads, and this checks their hand-offs (inboxes, adoption,
# timers, counters) for data races on every run of the suite.
TSAN_NET_SRCS := $(sort $(wildcard src/net/*.c)) src/core/obuf.c src/core/arena.c src/core/log.c
TSAN_BINS := $(BUILD)/tsan/tests/test_net
$(BUILD)/tsan/tests/test_net: tests/unit/test_net.c $(TSAN_NET_SRCS) $(wildcard src/net/*.h src/core/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -Itests/unit -O1 -fsanitize=thread -o $@ $< $(TSAN_NET_SRCS) -lpthread

# libFuzzer targets link every library object, rebuilt by clang with coverage.
FUZZ_FLAGS := -std=c17 -D_GNU_SOURCE -Isrc -g -O1 -fsanitize=fuzzer,address,undefined
$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CLANG) $(FUZZ_FLAGS) -MMD -MP -c $< -o $@
$(BUILD)/fuzz/%: fuzz/%.c $(patsubst %.c,$(BUILD)/fuzz/obj/%.o,$(LIB_SRCS))
	$(CLANG) $(FUZZ_FLAGS) -o $@ $^ $(LIBS)

run: deps $(BUILD)/gregor
	@mkdir -p data
	exec $(BUILD)/gregor broker --config config/server.properties

unit: $(UNIT_BINS) $(TSAN_BINS)

# LD_PRELOAD fault shim for the disk-fault and power-loss tests (test code only).
$(BUILD)/faultshim.so: tests/faultshim/faultshim.c
	@mkdir -p $(dir $@)
	$(CC) $(BASEFLAGS) -O2 -fPIC -shared -o $@ $< -ldl -lpthread

# Everything the suite runs: the sanitizer build of the broker, unit tests,
# the release broker, and fuzzers when clang is present.
test: deps
	$(MAKE) --no-print-directory $(BUILD)/gregor $(BUILD)/asan/gregor $(UNIT_BINS) $(TSAN_BINS) $(BUILD)/faultshim.so
	@if command -v $(CLANG) >/dev/null; then $(MAKE) --no-print-directory $(FUZZ_BINS); fi
	@tests/run

test-only:
	@tests/run

# New inputs go to a scratch corpus under build/, seeded from the committed one.
fuzz: $(FUZZ_BINS)
	@for f in $(FUZZ_BINS); do n=$$(basename $$f); d=$(BUILD)/fuzz-corpus/$$n; mkdir -p $$d; \
	  [ -d fuzz/corpus/$$n ] && cp -rn fuzz/corpus/$$n/. $$d/; \
	  echo "== $$n"; $$f -max_total_time=$${FUZZ_SECONDS:-60} -rss_limit_mb=2048 $$d || exit 1; done

# The long fault suite (crash loop, fuzzing to 10M executions, 30-minute
# traffic soak, valgrind): see tests/soak/run for SOAK_STEPS and the knobs.
soak: deps
	$(MAKE) --no-print-directory $(BUILD)/gregor $(BUILD)/asan/gregor $(BUILD)/faultshim.so
	@if command -v $(CLANG) >/dev/null; then $(MAKE) --no-print-directory $(FUZZ_BINS); fi
	@tests/soak/run

gen:
	/usr/bin/python3 tools/kafka_codegen.py ../shared/kafka-reference src/protocol/gen

format-check:
	@clang-format --dry-run -Werror $(SRCS)

clean:
	rm -rf $(BUILD)

-include $(REL_OBJS:.o=.d) $(ASAN_OBJS:.o=.d) $(patsubst %.c,$(BUILD)/fuzz/obj/%.d,$(LIB_SRCS))
