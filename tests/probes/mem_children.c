/* Three children of 200 MB each (touched, so resident), the parent
 * itself small: a limit that watches only the direct child sees nothing. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    for (int i = 0; i < 3; i++) {
        if (fork() == 0) {
            size_t n = 200u << 20;
            volatile char *p = malloc(n); /* volatile: the writes are the point */
            if (p == NULL)
                _exit(1);
            for (size_t k = 0; k < n; k += 4096)
                p[k] = 1;
            sleep(30);
            _exit(0);
        }
    }
    int status, ok = 0;
    while (wait(&status) > 0)
        ok += WIFEXITED(status) && WEXITSTATUS(status) == 0;
    printf("{\"children_done\":%d}", ok);
    return 0;
}
