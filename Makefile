# phpmgr — the only entry points a user needs: all, test, run, install, clean, asan, fuzz, bench.
PHP_CONFIG ?= php-config8.2
CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
BUILD ?= build

PHP_INCLUDES := $(shell $(PHP_CONFIG) --includes 2>/dev/null | sed 's/-I/-isystem /g')
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O2 -g -pipe
CFLAGS ?=
CFLAGS += $(CFLAGS_BASE) $(EXTRA_CFLAGS)
LDFLAGS += $(EXTRA_LDFLAGS)
LIBS := -luring -linih -lfcgi -lphp8.2 -lm

SRC_C := $(filter-out src/main.c,$(wildcard src/*.c))
SAPI_C := $(wildcard sapi/*.c)
SRC_O := $(SRC_C:%.c=$(BUILD)/%.o)
SAPI_O := $(SAPI_C:%.c=$(BUILD)/%.o)
UNIT_C := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_C:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps test unit run install clean asan fuzz bench format

all: $(BUILD)/phpmgr

deps:
	scripts/deps.sh

$(BUILD)/src/%.o: src/%.c $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -c $< -o $@

# sapi/ sees PHP's headers (as system headers: their warnings are not ours); src/ never does.
$(BUILD)/sapi/%.o: sapi/%.c $(wildcard sapi/*.h) src/log.h src/version.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isapi $(PHP_INCLUDES) -c $< -o $@

$(BUILD)/libphpmgr.a: $(SRC_O) $(SAPI_O)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/phpmgr: $(BUILD)/src/main.o $(BUILD)/libphpmgr.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/test_%: tests/unit/test_%.c tests/unit/check.h $(BUILD)/libphpmgr.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -Isapi -Itests/unit $(LDFLAGS) -o $@ $< $(BUILD)/libphpmgr.a $(LIBS)

unit: $(UNIT_BIN)

# Unit tests run twice: plain and under ASan/UBSan.
test: deps
	$(MAKE) all unit
	$(MAKE) asan
	tests/run.sh

run: deps all
	scripts/run-demo.sh

install: all
	install -D -m 0755 $(BUILD)/phpmgr $(DESTDIR)$(PREFIX)/sbin/phpmgr
	install -D -m 0644 man/phpmgr.8 $(DESTDIR)$(PREFIX)/share/man/man8/phpmgr.8
	install -D -m 0644 man/phpmgr.ini.5 $(DESTDIR)$(PREFIX)/share/man/man5/phpmgr.ini.5
	install -D -m 0644 etc/phpmgr.ini $(DESTDIR)$(PREFIX)/share/doc/phpmgr/examples/phpmgr.ini

# Address and undefined-behaviour sanitizers: a separate build tree.
asan:
	$(MAKE) BUILD=build/asan EXTRA_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer" \
		EXTRA_LDFLAGS="-fsanitize=address,undefined" all unit

# libFuzzer targets (clang), each run for FUZZ_SECONDS.
FUZZ_SECONDS ?= 30
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
fuzz:
	@mkdir -p $(BUILD)/fuzz
	@for t in $(FUZZ_TARGETS); do \
		clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc \
			-o $(BUILD)/fuzz/fuzz_$$t tests/fuzz/fuzz_$$t.c src/$$t.c || exit 1; \
		mkdir -p $(BUILD)/fuzz/corpus_$$t; \
		$(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) $(BUILD)/fuzz/corpus_$$t tests/fuzz/seeds_$$t 2>&1 \
			| tail -n 3 || exit 1; \
	done

bench: deps all
	scripts/bench.sh

format:
	clang-format -i src/*.c src/*.h sapi/*.c sapi/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c

clean:
	rm -rf build
