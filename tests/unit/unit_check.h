/* CUnit assertions with a formatted message and the test run, shared by the programs in
 * tests/unit/. */
#ifndef M2MSEC_TESTS_UNIT_CHECK_H
#define M2MSEC_TESTS_UNIT_CHECK_H

/* One CUnit assertion at line/func of file: passes if ok, with the formatted message. */
#if defined(__GNUC__)
__attribute__((format(printf, 5, 6)))
#endif
void check_at(int ok, const char *file, unsigned int line, const char *func, const char *fmt,
              ...);

#define CHECK(cond, ...) check_at((cond) ? 1 : 0, __FILE__, __LINE__, __func__, __VA_ARGS__)

/*
 * Runs the registered CUnit tests (verbose), prints the assertion counts and
 * cleans up the registry. Returns the exit status: 0 if nothing failed.
 */
int unit_run_tests(void);

#endif
