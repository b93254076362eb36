/* SPDX-License-Identifier: Apache-2.0 */
/* The OpenSSL error queue as text, for tests that check readable error reasons. */
#ifndef M2MSEC_TESTS_COMMON_TEST_ERRORS_H
#define M2MSEC_TESTS_COMMON_TEST_ERRORS_H

/* Drains the calling thread's OpenSSL error queue into a malloc'd string ("" if empty). */
char *errors_text(void);

/*
 * Drains the queue; 1 if its text holds every given substring (a NULL-terminated list).
 * Each missing one is printed to stderr with the whole text.
 */
__attribute__((sentinel)) int errors_have(const char *first, ...);

#endif
