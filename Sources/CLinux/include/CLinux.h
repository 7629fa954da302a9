// Linux interfaces that Swift's Glibc module does not expose.
// Glibc's module map has no sys/epoll.h or sys/signalfd.h, and is built without
// _GNU_SOURCE, which hides accept4(). Each wrapper is one line: no logic lives here.
#ifndef CLINUX_H
#define CLINUX_H

#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <signal.h>

// accept4 is declared only under _GNU_SOURCE; shim.c defines it.
int clinux_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags);

#endif
