/* A minimal stand-in for the few Unity macros the generated golden test uses,
 * so the test file runs on the host here, where PlatformIO cannot fetch Unity. */
#ifndef UNITY_STUB_H
#define UNITY_STUB_H
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int unity_failures;
static int unity_tests;

#define UNITY_BEGIN() (unity_failures = 0, unity_tests = 0)
#define UNITY_END() (printf("%d Tests %d Failures 0 Ignored\n", unity_tests, unity_failures), unity_failures)
#define RUN_TEST(fn) (setUp(), ++unity_tests, fn(), tearDown())
#define TEST_ASSERT_EQUAL_INT8_ARRAY(expected, actual, n)                           \
    do {                                                                            \
        if (memcmp((expected), (actual), (size_t)(n)) != 0) {                       \
            printf("%s:%d: FAIL: int8 arrays differ\n", __FILE__, __LINE__);        \
            ++unity_failures;                                                       \
            return;                                                                 \
        }                                                                           \
    } while (0)

#define TEST_ASSERT_EQUAL_INT8_ARRAY_MESSAGE(expected, actual, n, message)                    \
    do {                                                                                      \
        if (memcmp((expected), (actual), (size_t)(n)) != 0) {                                 \
            printf("%s:%d: FAIL: int8 arrays differ. %s\n", __FILE__, __LINE__, (message));    \
            ++unity_failures;                                                                 \
            return;                                                                           \
        }                                                                                     \
    } while (0)

#define TEST_ASSERT_EQUAL_INT16_ARRAY_MESSAGE(expected, actual, n, message)                   \
    do {                                                                                      \
        if (memcmp((expected), (actual), 2 * (size_t)(n)) != 0) {                             \
            printf("%s:%d: FAIL: int16 arrays differ. %s\n", __FILE__, __LINE__, (message));   \
            ++unity_failures;                                                                 \
            return;                                                                           \
        }                                                                                     \
    } while (0)

void setUp(void);
void tearDown(void);
#endif
