/* Names, label values and quantities as Kubernetes (and Compose) want
 * them. servos' names allow upper case, "_" and "." and start with a digit
 * as often as a letter; Kubernetes' DNS labels allow none of that. */
#include "export/export_int.h"

#include <ctype.h>
#include <inttypes.h>
#include <strings.h>
#include <string.h>

const char *sv_xname_dns(struct sv_xdoc *d, const char *s, bool letter_first)
{
    char buf[256];
    size_t n = 0;
    if (letter_first && !isalpha((unsigned char)s[0]))
        buf[n++] = 'x', buf[n++] = '-';
    for (const char *c = s; *c && n < sizeof(buf) - 1; c++) {
        unsigned char ch = (unsigned char)tolower((unsigned char)*c);
        buf[n++] = (char)(isalnum(ch) ? ch : '-');
    }
    while (n > 0 && buf[n - 1] == '-')
        n--;
    buf[n] = '\0';
    size_t start = strspn(buf, "-");
    if (buf[start] == '\0')
        return "x";
    if (n - start <= 63)
        return sv_xdoc_strdup(d, buf + start);
    /* Too long: the first 54 and a hash of the whole, so two long names
     * that differ only at the end stay apart. */
    return sv_xdoc_printf(d, "%.54s-%08" PRIx32, buf + start,
                          (uint32_t)sv_fnv1a(buf + start, n - start));
}

const char *sv_xname_join(struct sv_xdoc *d, const char *name, const char *suffix)
{
    size_t room = 63 - strlen(suffix) - 1;
    if (strlen(name) <= room)
        return sv_xdoc_printf(d, "%s-%s", name, suffix);
    return sv_xdoc_printf(d, "%.*s-%s", (int)room, name, suffix);
}

/* [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 (empty allowed
 * for a value). */
static bool label_name_ok(const char *s, size_t n, bool empty_ok)
{
    if (n == 0)
        return empty_ok;
    if (n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && !strchr("-_.", s[i]))
            return false;
    return true;
}

bool sv_xname_label_value_ok(const char *s)
{
    return label_name_ok(s, strlen(s), true);
}

bool sv_xname_label_key_ok(const char *s)
{
    const char *slash = strchr(s, '/');
    const char *name = slash ? slash + 1 : s;
    if (!label_name_ok(name, strlen(name), false))
        return false;
    if (slash == NULL)
        return true;
    /* the prefix: a DNS subdomain of at most 253 */
    size_t pn = (size_t)(slash - s);
    if (pn == 0 || pn > 253)
        return false;
    for (size_t i = 0; i < pn; i++)
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && !strchr("-.", s[i]))
            return false;
    return isalnum((unsigned char)s[0]) && isalnum((unsigned char)s[pn - 1]);
}

const char *sv_xname_bytes(struct sv_xdoc *d, int64_t bytes)
{
    static const char *const units[] = {"Ei", "Pi", "Ti", "Gi", "Mi", "Ki"};
    for (size_t i = 0; i < SV_ARRAY_LEN(units); i++) {
        int64_t unit = (int64_t)1 << (10 * (6 - i));
        if (bytes >= unit && bytes % unit == 0)
            return sv_xdoc_printf(d, "%" PRId64 "%s", bytes / unit, units[i]);
    }
    return sv_xdoc_printf(d, "%" PRId64, bytes);
}

const char *sv_xname_cpus(struct sv_xdoc *d, double cpus)
{
    int64_t milli = (int64_t)(cpus * 1000 + 0.5); /* no libm: servos loads it on demand */
    if (milli < 1)
        milli = 1;
    if (milli % 1000 == 0)
        return sv_xdoc_printf(d, "%" PRId64, milli / 1000);
    return sv_xdoc_printf(d, "%" PRId64 "m", milli);
}

int64_t sv_xname_seconds(int64_t ms, int64_t min, bool *exact)
{
    int64_t s = (ms + 999) / 1000;
    if (s < min)
        s = min;
    if (exact)
        *exact = s * 1000 == ms;
    return s;
}

const char *sv_xname_duration(struct sv_xdoc *d, int64_t ms)
{
    if (ms % 1000 != 0)
        return sv_xdoc_printf(d, "%" PRId64 "ms", ms);
    if (ms % 60000 == 0 && ms > 0)
        return sv_xdoc_printf(d, "%" PRId64 "m", ms / 60000);
    return sv_xdoc_printf(d, "%" PRId64 "s", ms / 1000);
}

const char *sv_xname_cap(struct sv_xdoc *d, const char *cap)
{
    if (strncasecmp(cap, "CAP_", 4) == 0)
        cap += 4;
    char *out = (char *)sv_xdoc_strdup(d, cap);
    for (char *c = out; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    return out;
}
