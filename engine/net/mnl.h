/* libmnl, loaded with dlopen when servos first talks netlink (a stack's
 * network, `run -p`): most commands never do, and each shared library
 * linked in is loaded and relocated before main by every servos command.
 * The netlink code calls libmnl by its own names, each a macro for a slot
 * typed from libmnl's prototype (as git/git2.h does for libgit2). */
#ifndef SV_MNL_H
#define SV_MNL_H

#include "core/util.h"

#include <libmnl/libmnl.h>

#define SV_MNL_FUNCTIONS(X)                                                                        \
    X(mnl_attr_nest_end)                                                                           \
    X(mnl_attr_nest_start)                                                                         \
    X(mnl_attr_put)                                                                                \
    X(mnl_attr_put_strz)                                                                           \
    X(mnl_attr_put_u32)                                                                            \
    X(mnl_cb_run)                                                                                  \
    X(mnl_nlmsg_get_payload_tail)                                                                  \
    X(mnl_nlmsg_put_extra_header)                                                                  \
    X(mnl_nlmsg_put_header)                                                                        \
    X(mnl_socket_bind)                                                                             \
    X(mnl_socket_close)                                                                            \
    X(mnl_socket_get_portid)                                                                       \
    X(mnl_socket_open)                                                                             \
    X(mnl_socket_open2)                                                                            \
    X(mnl_socket_recvfrom)                                                                         \
    X(mnl_socket_sendto)

struct sv_mnl {
#define SV_MNL_SLOT(f) __typeof__(f) *f;
    SV_MNL_FUNCTIONS(SV_MNL_SLOT)
#undef SV_MNL_SLOT
};
extern struct sv_mnl sv_mnl;

/* Load libmnl, once. */
int sv_mnl_load(sv_error_t *err);

#ifndef SV_MNL_LOADER
#define mnl_attr_nest_end          sv_mnl.mnl_attr_nest_end
#define mnl_attr_nest_start        sv_mnl.mnl_attr_nest_start
#define mnl_attr_put               sv_mnl.mnl_attr_put
#define mnl_attr_put_strz          sv_mnl.mnl_attr_put_strz
#define mnl_attr_put_u32           sv_mnl.mnl_attr_put_u32
#define mnl_cb_run                 sv_mnl.mnl_cb_run
#define mnl_nlmsg_get_payload_tail sv_mnl.mnl_nlmsg_get_payload_tail
#define mnl_nlmsg_put_extra_header sv_mnl.mnl_nlmsg_put_extra_header
#define mnl_nlmsg_put_header       sv_mnl.mnl_nlmsg_put_header
#define mnl_socket_bind            sv_mnl.mnl_socket_bind
#define mnl_socket_close           sv_mnl.mnl_socket_close
#define mnl_socket_get_portid      sv_mnl.mnl_socket_get_portid
#define mnl_socket_open            sv_mnl.mnl_socket_open
#define mnl_socket_open2           sv_mnl.mnl_socket_open2
#define mnl_socket_recvfrom        sv_mnl.mnl_socket_recvfrom
#define mnl_socket_sendto          sv_mnl.mnl_socket_sendto
#endif

#endif
