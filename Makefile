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
# Bind every symbol at startup (libphp and its extensions are linked so already): a lazily bound
# PLT slot is resolved again in every worker that calls it first, and pm.max_requests makes a new
# worker every few hundred requests (~40 lookups and their page faults each, ~1 ms per worker).
LDFLAGS_BASE := -Wl,-z,now -Wl,-z,relro
LDFLAGS += $(LDFLAGS_BASE) $(EXTRA_LDFLAGS)
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

$(BUILD)/src/%.o: src/%.c $(wildcard src/*.h) sapi/phpw.h sapi/phpw_status.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Isrc -c $< -o $@

# sapi/ sees PHP's headers (as system headers: their warnings are not ours); src/ never does.
$(BUILD)/sapi/%.o: sapi/%.c $(wildcard sapi/*.h) src/log.h src/version.h src/fdio.h
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
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed -e 's|@SBINDIR@|$(PREFIX)/sbin|g' -e 's|@CONFIG@|/etc/phpmgr/phpmgr.ini|g' \
		etc/phpmgr.service.in > $(DESTDIR)$(PREFIX)/lib/systemd/system/phpmgr.service
	install -D -m 0755 scripts/phpmgr-laravel $(DESTDIR)$(PREFIX)/bin/phpmgr-laravel
	install -D -m 0644 sapi/php/laravel.php $(DESTDIR)$(PREFIX)/share/phpmgr/laravel.php
	install -D -m 0644 sapi/php/phpmgr.stub.php $(DESTDIR)$(PREFIX)/share/phpmgr/phpmgr.stub.php

# Address and undefined-behaviour sanitizers: a separate build tree.
asan:
	$(MAKE) BUILD=build/asan EXTRA_CFLAGS="-O1 -fsanitize=address,undefined -fno-omit-frame-pointer" \
		EXTRA_LDFLAGS="-fsanitize=address,undefined" all unit

# libFuzzer targets (clang): tests/fuzz/fuzz_X.c tests src/X.c, linked with the modules listed in
# FUZZ_EXTRA_X (if any); each runs for FUZZ_SECONDS on tests/fuzz/seeds_X and a corpus kept in
# $(BUILD)/fuzz. A crash fails the rule (its input is saved as $(BUILD)/fuzz/crash-*).
FUZZ_SECONDS ?= 30
FUZZ_CC ?= clang
FUZZ_CFLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Isrc
FUZZ_TARGETS := $(patsubst tests/fuzz/fuzz_%.c,%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_EXTRA_http_params := src/http.c src/fcgi.c

$(foreach t,$(FUZZ_TARGETS),$(eval $(BUILD)/fuzz/fuzz_$(t): $(FUZZ_EXTRA_$(t))))
$(BUILD)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c src/%.c $(wildcard src/*.h)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -o $@ $(filter %.c,$^)

fuzz: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)
	@for t in $(FUZZ_TARGETS); do \
		mkdir -p $(BUILD)/fuzz/corpus_$$t; \
		echo "== fuzz_$$t"; \
		if $(BUILD)/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -artifact_prefix=$(BUILD)/fuzz/ \
			$(BUILD)/fuzz/corpus_$$t tests/fuzz/seeds_$$t >$(BUILD)/fuzz/fuzz_$$t.log 2>&1; then \
			tail -n 3 $(BUILD)/fuzz/fuzz_$$t.log; \
		else \
			tail -n 40 $(BUILD)/fuzz/fuzz_$$t.log; \
			echo "fuzz_$$t FAILED (log: $(BUILD)/fuzz/fuzz_$$t.log)"; \
			exit 1; \
		fi; \
	done

bench: deps all
	scripts/bench.sh

format:
	clang-format -i src/*.c src/*.h sapi/*.c sapi/*.h tests/unit/*.c tests/unit/*.h tests/fuzz/*.c

clean:
	rm -rf build
