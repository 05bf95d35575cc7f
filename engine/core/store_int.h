/* The store's inside, for the files that keep tables of their own in the
 * same database (events.c): the connection sv_store_open made. */
#ifndef SV_STORE_INT_H
#define SV_STORE_INT_H

#include <sqlite3.h>

struct sv_store {
    sqlite3 *db;
};

#endif
