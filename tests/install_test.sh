#!/usr/bin/env bash
# `cmake --install` into a temporary prefix, then: a C program built with
# `pkg-config --cflags --libs lstmlm` runs against the installed shared
# library; a CMake project finds the package; the CLI, its man page and the
# Python module work from the prefix. Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -u
build=$1 src=$2
. "$(dirname "$0")/lib.sh"
prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" > "$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
lib=$prefix/lib
[ -d "$prefix/lib64" ] && lib=$prefix/lib64
for f in "$lib/liblstmlm.a" "$lib/liblstmlm.so" "$prefix/include/lstmlm.h" "$lib/pkgconfig/lstmlm.pc" \
         "$lib/cmake/lstmlm/lstmlmConfig.cmake" "$prefix/bin/lstmlm"; do
  [ -e "$f" ] || fail "not installed: $f"
done
soname=$(objdump -p "$lib/liblstmlm.so" 2>/dev/null | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = "liblstmlm.so.0" ] || fail "soname '$soname', expected liblstmlm.so.0"
if command -v help2man > /dev/null; then
  [ -s "$prefix/share/man/man1/lstmlm.1" ] || fail "no man page"
  grep -q "rescore" "$prefix/share/man/man1/lstmlm.1" || fail "the man page lacks the commands' options"
fi

cat > "$work/demo.c" <<'C'
/* A tiny language model, a state, one sentence scored. */
#include <lstmlm.h>
#include <math.h>
#include <stdio.h>
int main(void) {
    const char *words[] = {"<eos>", "<unk>", "a", "b", "c"};
    lm_config c = {.layers = 2, .hidden = 8, .steps = 4, .batch = 2, .init = 0.1f, .lr = 1, .max_epoch = 1,
                   .epochs = 1, .decay = 2, .clip = 5, .seed = 1, .threads = 1};
    lm_error err;
    lm_vocab *v;
    lm_model *m;
    lm_state *s;
    if (lm_vocab_from_words(&v, words, 5, &err) || lm_model_create(&m, &c, 5, &err) ||
        lm_state_create(&s, m, v, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    const int32_t ids[] = {2, 3, 4};
    double total;
    if (lm_state_score(s, ids, 3, 1, NULL, &total, &err)) { fprintf(stderr, "%s\n", err.msg); return 1; }
    printf("log P(a b c <eos>) = %.4f\n", total);
    lm_state_free(s), lm_model_free(m), lm_vocab_free(v);
    return !(total < 0 && total > -4 * log(5.0) * 3);
}
C
export PKG_CONFIG_PATH=$lib/pkgconfig
# a sanitizer build's library needs its runtime in the program too
san=""
grep -q "^LSTMLM_SANITIZE:BOOL=ON" "$build/CMakeCache.txt" && san="-fsanitize=address,undefined"
# shellcheck disable=SC2046
cc $san -o "$work/demo" "$work/demo.c" $(pkg-config --cflags --libs lstmlm) -lm 2> "$work/cc.log" ||
  fail "pkg-config build failed: $(cat "$work/cc.log")"
out=$(LD_LIBRARY_PATH=$lib "$work/demo" 2>&1) || fail "the pkg-config program failed: $out"
grep -q "log P(a b c <eos>)" <<<"$out" || fail "unexpected output: $out"
LD_LIBRARY_PATH=$lib ldd "$work/demo" | grep -q "$lib/liblstmlm.so.0" || fail "not linked to the installed .so"

mkdir -p "$work/cm"
cp "$work/demo.c" "$work/cm/"
cat > "$work/cm/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(demo C)
find_package(lstmlm 0.1 REQUIRED)
add_executable(demo demo.c)
target_link_libraries(demo PRIVATE lstmlm::lstmlm)
CM
if cmake -S "$work/cm" -B "$work/cm/build" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_C_FLAGS="$san" > "$work/cm.log" 2>&1 &&
   cmake --build "$work/cm/build" >> "$work/cm.log" 2>&1; then
  "$work/cm/build/demo" > /dev/null || fail "the find_package program failed"
else
  fail "find_package(lstmlm) build failed: $(tail -20 "$work/cm.log")"
fi

out=$("$prefix/bin/lstmlm" --version 2>&1) || fail "installed CLI: $out"
if [ -x /usr/bin/python3 ] && [ -z "$san" ]; then
  pydir=$(find "$prefix" -type d -name lstmlm -path "*dist-packages*" | head -1)
  out=$(cd "$work" && PYTHONPATH=$(dirname "$pydir") /usr/bin/python3 -c \
    'import lstmlm; print(lstmlm._lib._name)' 2>&1) || fail "installed Python module: $out"
  grep -q "$prefix" <<<"$out" || fail "the installed module loaded another library: $out"
fi
finish install
