/* libgit2, loaded with dlopen when a command first needs it (a git source,
 * `servos pull`): linked, it brings 13 more shared libraries (krb5, mbedTLS,
 * libssh2, pcre2, http_parser, ...) whose loading and constructors every
 * servos command would pay before main, `servos run` and `servos ps`
 * included. The git code calls libgit2 by its own names: each is a macro
 * for the slot sv_git2_load fills, typed from libgit2's own prototype, so
 * a call that does not match the header still fails to compile. */
#ifndef SV_GIT2_H
#define SV_GIT2_H

#include "core/util.h"

#include <git2.h>

/* Every libgit2 function servos calls. */
#define SV_GIT2_FUNCTIONS(X)                                                                       \
    X(git_blob_free)                                                                               \
    X(git_blob_lookup)                                                                             \
    X(git_blob_rawcontent)                                                                         \
    X(git_blob_rawsize)                                                                            \
    X(git_buf_dispose)                                                                             \
    X(git_commit_free)                                                                             \
    X(git_commit_lookup)                                                                           \
    X(git_commit_tree)                                                                             \
    X(git_credential_ssh_key_from_agent)                                                           \
    X(git_credential_ssh_key_new)                                                                  \
    X(git_credential_username_new)                                                                 \
    X(git_credential_userpass_plaintext_new)                                                       \
    X(git_error_last)                                                                              \
    X(git_fetch_options_init)                                                                      \
    X(git_libgit2_init)                                                                            \
    X(git_libgit2_shutdown)                                                                        \
    X(git_libgit2_version)                                                                         \
    X(git_object_free)                                                                             \
    X(git_object_id)                                                                               \
    X(git_object_lookup_prefix)                                                                    \
    X(git_object_peel)                                                                             \
    X(git_oid_cpy)                                                                                 \
    X(git_oid_fromstr)                                                                             \
    X(git_oid_fromstrn)                                                                            \
    X(git_oid_tostr)                                                                               \
    X(git_reference_delete)                                                                        \
    X(git_reference_free)                                                                          \
    X(git_reference_iterator_free)                                                                 \
    X(git_reference_iterator_glob_new)                                                             \
    X(git_reference_lookup)                                                                        \
    X(git_reference_name)                                                                          \
    X(git_reference_name_is_valid)                                                                 \
    X(git_reference_next)                                                                          \
    X(git_reference_peel)                                                                          \
    X(git_reference_symbolic_create)                                                               \
    X(git_remote_connect)                                                                          \
    X(git_remote_create_anonymous)                                                                 \
    X(git_remote_default_branch)                                                                   \
    X(git_remote_disconnect)                                                                       \
    X(git_remote_download)                                                                         \
    X(git_remote_free)                                                                             \
    X(git_remote_init_callbacks)                                                                   \
    X(git_remote_ls)                                                                               \
    X(git_remote_update_tips)                                                                      \
    X(git_repository_free)                                                                         \
    X(git_repository_init)                                                                         \
    X(git_repository_open_bare)                                                                    \
    X(git_tree_entry_filemode)                                                                     \
    X(git_tree_entry_id)                                                                           \
    X(git_tree_entry_name)                                                                         \
    X(git_tree_free)                                                                               \
    X(git_tree_walk)

struct sv_git2 {
#define SV_GIT2_SLOT(f) __typeof__(f) *f;
    SV_GIT2_FUNCTIONS(SV_GIT2_SLOT)
#undef SV_GIT2_SLOT
};
extern struct sv_git2 sv_git2;

/* Load libgit2 and initialise it, once; libgit2_shutdown runs at exit. */
int sv_git2_load(sv_error_t *err);
/* Whether it is loaded (nothing to shut down or free otherwise). */
bool sv_git2_loaded(void);

#ifndef SV_GIT2_LOADER
#define git_blob_free                         sv_git2.git_blob_free
#define git_blob_lookup                       sv_git2.git_blob_lookup
#define git_blob_rawcontent                   sv_git2.git_blob_rawcontent
#define git_blob_rawsize                      sv_git2.git_blob_rawsize
#define git_buf_dispose                       sv_git2.git_buf_dispose
#define git_commit_free                       sv_git2.git_commit_free
#define git_commit_lookup                     sv_git2.git_commit_lookup
#define git_commit_tree                       sv_git2.git_commit_tree
#define git_credential_ssh_key_from_agent     sv_git2.git_credential_ssh_key_from_agent
#define git_credential_ssh_key_new            sv_git2.git_credential_ssh_key_new
#define git_credential_username_new           sv_git2.git_credential_username_new
#define git_credential_userpass_plaintext_new sv_git2.git_credential_userpass_plaintext_new
#define git_error_last                        sv_git2.git_error_last
#define git_fetch_options_init                sv_git2.git_fetch_options_init
#define git_libgit2_init                      sv_git2.git_libgit2_init
#define git_libgit2_shutdown                  sv_git2.git_libgit2_shutdown
#define git_libgit2_version                   sv_git2.git_libgit2_version
#define git_object_free                       sv_git2.git_object_free
#define git_object_id                         sv_git2.git_object_id
#define git_object_lookup_prefix              sv_git2.git_object_lookup_prefix
#define git_object_peel                       sv_git2.git_object_peel
#define git_oid_cpy                           sv_git2.git_oid_cpy
#define git_oid_fromstr                       sv_git2.git_oid_fromstr
#define git_oid_fromstrn                      sv_git2.git_oid_fromstrn
#define git_oid_tostr                         sv_git2.git_oid_tostr
#define git_reference_delete                  sv_git2.git_reference_delete
#define git_reference_free                    sv_git2.git_reference_free
#define git_reference_iterator_free           sv_git2.git_reference_iterator_free
#define git_reference_iterator_glob_new       sv_git2.git_reference_iterator_glob_new
#define git_reference_lookup                  sv_git2.git_reference_lookup
#define git_reference_name                    sv_git2.git_reference_name
#define git_reference_name_is_valid           sv_git2.git_reference_name_is_valid
#define git_reference_next                    sv_git2.git_reference_next
#define git_reference_peel                    sv_git2.git_reference_peel
#define git_reference_symbolic_create         sv_git2.git_reference_symbolic_create
#define git_remote_connect                    sv_git2.git_remote_connect
#define git_remote_create_anonymous           sv_git2.git_remote_create_anonymous
#define git_remote_default_branch             sv_git2.git_remote_default_branch
#define git_remote_disconnect                 sv_git2.git_remote_disconnect
#define git_remote_download                   sv_git2.git_remote_download
#define git_remote_free                       sv_git2.git_remote_free
#define git_remote_init_callbacks             sv_git2.git_remote_init_callbacks
#define git_remote_ls                         sv_git2.git_remote_ls
#define git_remote_update_tips                sv_git2.git_remote_update_tips
#define git_repository_free                   sv_git2.git_repository_free
#define git_repository_init                   sv_git2.git_repository_init
#define git_repository_open_bare              sv_git2.git_repository_open_bare
#define git_tree_entry_filemode               sv_git2.git_tree_entry_filemode
#define git_tree_entry_id                     sv_git2.git_tree_entry_id
#define git_tree_entry_name                   sv_git2.git_tree_entry_name
#define git_tree_free                         sv_git2.git_tree_free
#define git_tree_walk                         sv_git2.git_tree_walk
#endif

#endif
