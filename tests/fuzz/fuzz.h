/*
 * Fuzz targets: libFuzzer's entry point. Built with -fsanitize=fuzzer
 * under ./configure --enable-fuzzers (clang), and otherwise linked with
 * driver.c, which make check uses to replay the seed corpus.
 */
#include <stddef.h>
#include <stdint.h>

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);
