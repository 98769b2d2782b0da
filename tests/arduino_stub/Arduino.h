/* A host stand-in for the little of Arduino's core the generated sketch
 * uses (Serial printing, micros, F), so tests can run src/main.cpp here. */
#ifndef ARDUINO_STUB_H
#define ARDUINO_STUB_H
#include <stdint.h>
#include <stdio.h>

#define F(s) (s)

struct SerialStub {
    void begin(unsigned long) {}
    explicit operator bool() const { return true; }
    void print(const char *s) { fputs(s, stdout); }
    void print(char c) { putchar(c); }
    void print(int v) { printf("%d", v); }
    void print(unsigned long v) { printf("%lu", v); }
    void print(double v, int digits = 2) { printf("%.*f", digits, v); }
    void println() { putchar('\n'); }
    template <typename T> void println(T v) { print(v); println(); }
    template <typename T> void println(T v, int digits) { print(v, digits); println(); }
};
static SerialStub Serial;

static inline unsigned long micros(void) { return 0; }
void setup(void);
void loop(void);
int main(void)
{
    setup();
    return 0;
}
#endif
