/* Unit tests for RFC 6455 framing (engine/proserve/wsframe.c) and the
 * WebSocket handler line protocol (engine/proserve/wsmsg.c): the RFC's own
 * examples, every rule a client frame must keep, close payloads, UTF-8 at
 * its edges, and messages to lines and back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "proserve/wsframe.h"
#include "proserve/wsmsg.h"

static int parse(const char *bytes, size_t n, struct pf_wsframe *f, unsigned *code)
{
    return pf_wsframe_parse((const unsigned char *)bytes, n, 1u << 20, f, code);
}

/* RFC 6455 5.7: a masked "Hello" from a client. */
static void test_rfc_example(void **state)
{
    (void)state;
    unsigned char b[] = {0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58};
    struct pf_wsframe f;
    unsigned code = 0;
    assert_int_equal(parse((char *)b, sizeof(b), &f, &code), 6);
    assert_true(f.fin);
    assert_int_equal(f.opcode, PF_WS_TEXT);
    assert_int_equal(f.len, 5);
    pf_wsframe_unmask(b + 6, 5, f.mask, 0);
    assert_memory_equal(b + 6, "Hello", 5);
    /* Whatever is cut short asks for more. */
    for (size_t n = 0; n < 6; n++)
        assert_int_equal(parse((char *)b, n, &f, &code), 0);
    /* Unmasking in pieces, at their offsets, is unmasking whole. */
    unsigned char p[] = {0x7f, 0x9f, 0x4d, 0x51, 0x58};
    pf_wsframe_unmask(p, 2, f.mask, 0);
    pf_wsframe_unmask(p + 2, 3, f.mask, 2);
    assert_memory_equal(p, "Hello", 5);
}

static void test_violations(void **state)
{
    (void)state;
    struct pf_wsframe f;
    unsigned code = 0;
    assert_int_equal(parse("\x81\x05Hello", 7, &f, &code), -1); /* unmasked */
    assert_int_equal(code, PF_WS_PROTOCOL);
    assert_int_equal(parse("\xc1\x80\0\0\0\0", 6, &f, &code), -1);       /* RSV1 */
    assert_int_equal(parse("\x83\x80\0\0\0\0", 6, &f, &code), -1);       /* opcode 3 */
    assert_int_equal(parse("\x09\x80\0\0\0\0", 6, &f, &code), -1);       /* ping not final */
    assert_int_equal(parse("\x89\xfe\0\x7e\0\0\0\0", 8, &f, &code), -1); /* 126-byte ping */
    assert_int_equal(code, PF_WS_PROTOCOL);
    assert_int_equal(parse("\x82\xff\x80\0\0\0\0\0\0\0\0\0\0\0", 14, &f, &code), -1); /* MSB */
    assert_int_equal(parse("\x82\xff\0\0\0\0\0\x10\0\x01\0\0\0\0", 14, &f, &code), -1);
    assert_int_equal(code, PF_WS_TOO_BIG);                                /* 1 MiB + 1 */
    assert_int_equal(parse("\x82\xfe\xff\xff\0\0\0\0", 8, &f, &code), 8); /* 64 KiB - 1 */
    assert_int_equal(f.len, 65535);
}

static void test_header(void **state)
{
    (void)state;
    unsigned char h[10];
    assert_int_equal(pf_wsframe_header(h, PF_WS_TEXT, true, 5), 2);
    assert_memory_equal(h, "\x81\x05", 2);
    assert_int_equal(pf_wsframe_header(h, PF_WS_BINARY, true, 256), 4);
    assert_memory_equal(h, "\x82\x7e\x01\x00", 4);
    assert_int_equal(pf_wsframe_header(h, PF_WS_BINARY, false, 65536), 10);
    assert_memory_equal(h, "\x02\x7f\0\0\0\0\0\x01\0\0", 10);
}

static void test_close(void **state)
{
    (void)state;
    unsigned bad = 0;
    assert_int_equal(pf_wsframe_close_code(NULL, 0, &bad), PF_WS_NO_STATUS);
    assert_int_equal(pf_wsframe_close_code((const unsigned char *)"\x03\xe8"
                                                                  "bye",
                                           5, &bad),
                     1000);
    assert_int_equal(pf_wsframe_close_code((const unsigned char *)"\x0f\xa0", 2, &bad), 4000);
    assert_int_equal(pf_wsframe_close_code((const unsigned char *)"\x03", 1, &bad), 0);
    assert_int_equal(bad, PF_WS_PROTOCOL);
    static const unsigned never[] = {999, 1004, 1005, 1006, 1015, 1016, 2999, 5000};
    for (size_t i = 0; i < sizeof(never) / sizeof(never[0]); i++) {
        unsigned char p[2] = {(unsigned char)(never[i] >> 8), (unsigned char)never[i]};
        assert_int_equal(pf_wsframe_close_code(p, 2, &bad), 0);
    }
    assert_int_equal(pf_wsframe_close_code((const unsigned char *)"\x03\xe8\xff", 3, &bad), 0);
    assert_int_equal(bad, PF_WS_BAD_DATA);
    /* A long reason is cut on a character's boundary. */
    char reason[200];
    memset(reason, 'a', 122);
    strcpy(reason + 122, "é and more");
    unsigned char out[125];
    size_t n = pf_wsframe_close_payload(out, 1001, reason);
    assert_int_equal(n, 124);
    assert_true(pf_wsframe_utf8(out + 2, n - 2));
}

static void test_utf8(void **state)
{
    (void)state;
    assert_true(pf_wsframe_utf8((const unsigned char *)"κόσμε ✓ 😀", strlen("κόσμε ✓ 😀")));
    assert_false(pf_wsframe_utf8((const unsigned char *)"\xc0\xaf", 2));         /* overlong */
    assert_false(pf_wsframe_utf8((const unsigned char *)"\xed\xa0\x80", 3));     /* surrogate */
    assert_false(pf_wsframe_utf8((const unsigned char *)"\xf4\x90\x80\x80", 4)); /* > U+10FFFF */
    assert_false(pf_wsframe_utf8((const unsigned char *)"\xe2\x82", 2));         /* cut short */
    assert_true(pf_wsframe_utf8((const unsigned char *)"\xf4\x8f\xbf\xbf", 4));  /* U+10FFFF */
}

static void test_handshake(void **state)
{
    (void)state;
    char accept[29];
    assert_true(pf_wsframe_key_valid("dGhlIHNhbXBsZSBub25jZQ=="));
    assert_false(pf_wsframe_key_valid("dGhlIHNhbXBsZSBub25jZQ"));
    assert_false(pf_wsframe_key_valid("dGhlIHNhbXBsZSBub25j*Q=="));
    assert_int_equal(pf_wsframe_accept("dGhlIHNhbXBsZSBub25jZQ==", accept, NULL), 0);
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="); /* RFC 6455 1.3 */
}

static void line_is(unsigned op, const char *msg, size_t n, const char *want)
{
    size_t len;
    char *line = pf_wsmsg_to_line(op, (const unsigned char *)msg, n, &len);
    assert_string_equal(line, want);
    assert_int_equal(len, strlen(want));
    free(line);
}

static void test_lines(void **state)
{
    (void)state;
    line_is(PF_WS_TEXT, "hello", 5, "\"hello\"\n");
    line_is(PF_WS_TEXT, "{\"a\": 1}", 8, "{\"a\": 1}\n");
    line_is(PF_WS_TEXT, "{\"a\":\n1}", 8, "{\"a\":1}\n");
    line_is(PF_WS_TEXT, "two\nlines", 9, "\"two\\nlines\"\n");
    line_is(PF_WS_BINARY, "\0\1", 2, "{\"$binary\":\"AAE=\"}\n");
    struct pf_wsmsg m;
    pf_wsmsg_from_line("\"hi\"", 4, &m);
    assert_int_equal(m.kind, PF_WSMSG_SEND);
    assert_int_equal(m.opcode, PF_WS_TEXT);
    assert_memory_equal(m.data, "hi", 2);
    free(m.data);
    pf_wsmsg_from_line("{\"$binary\":\"AAE=\"}", 18, &m);
    assert_int_equal(m.opcode, PF_WS_BINARY);
    assert_int_equal(m.len, 2);
    assert_memory_equal(m.data, "\0\1", 2);
    free(m.data);
    pf_wsmsg_from_line("{\"$broadcast\":{\"x\":1}}", 22, &m);
    assert_int_equal(m.kind, PF_WSMSG_BROADCAST);
    assert_string_equal((char *)m.data, "{\"x\":1}");
    free(m.data);
    pf_wsmsg_from_line("{\"$close\":4001,\"reason\":\"done\"}", 31, &m);
    assert_int_equal(m.kind, PF_WSMSG_CLOSE);
    assert_int_equal(m.code, 4001);
    assert_string_equal(m.reason, "done");
    pf_wsmsg_from_line("plain words\r", 12, &m);
    assert_string_equal((char *)m.data, "plain words");
    free(m.data);
    pf_wsmsg_from_line("", 0, &m);
    assert_int_equal(m.kind, PF_WSMSG_NONE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc_example), cmocka_unit_test(test_violations),
        cmocka_unit_test(test_header),      cmocka_unit_test(test_close),
        cmocka_unit_test(test_utf8),        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
