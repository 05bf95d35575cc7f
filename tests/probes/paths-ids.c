/* Prints the effective ids it runs with: set-id bits on this file, made
 * by a container through a volume, must not give a host user root's. */
#include <stdio.h>
#include <unistd.h>

int main(void)
{
    printf("euid=%u egid=%u\n", (unsigned)geteuid(), (unsigned)getegid());
    return 0;
}
