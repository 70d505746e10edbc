/*
 * /init of the pkey test guest (scripts/pkey-vm/run packs it, built with gcc -O2 -static).
 *
 * Mounts /proc, /sys and /dev, points stdio at the serial console, runs every executable in
 * /tests with RPAL_REQUIRE_PKEY=1 and --test-threads=1 (each with a time limit), prints one
 * "PKEY-VM: PASS <name>" or "PKEY-VM: FAIL <name> (...)" line per binary and a final
 * "PKEY-VM: DONE pass=<n> fail=<m>", then powers the machine off so QEMU exits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define TEST_DIR "/tests"
#define TEST_TIMEOUT_S 300

static void on_alarm(int sig) { (void)sig; }

static void power_off(void) {
    fflush(stdout);
    sync();
    reboot(RB_POWER_OFF);
    for (;;) pause();
}

static void setup(void) {
    mkdir("/proc", 0555);
    mkdir("/sys", 0555);
    mkdir("/dev", 0755);
    mkdir("/tmp", 01777);
    mount("proc", "/proc", "proc", 0, NULL);
    mount("sysfs", "/sys", "sysfs", 0, NULL);
    mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
    mount("tmpfs", "/tmp", "tmpfs", 0, NULL);
    int fd = open("/dev/console", O_RDWR | O_NOCTTY);
    if (fd >= 0) {
        dup2(fd, 0);
        dup2(fd, 1);
        dup2(fd, 2);
        if (fd > 2) close(fd);
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
}

static void report_pku_flag(void) {
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[4096];
    int pku = 0, ospke = 0;
    if (!f) {
        printf("PKEY-VM: cannot read /proc/cpuinfo\n");
        return;
    }
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "flags", 5) == 0) {
            pku = strstr(line, " pku") != NULL;
            ospke = strstr(line, " ospke") != NULL;
            break;
        }
    }
    fclose(f);
    printf("PKEY-VM: cpu flags pku=%d ospke=%d\n", pku, ospke);
}

/* Runs one test binary; returns 1 on pass. */
static int run_one(const char name[256]) {
    char path[300];
    snprintf(path, sizeof path, "%s/%.255s", TEST_DIR, name);
    printf("PKEY-VM: RUN %s\n", name);
    pid_t pid = fork();
    if (pid < 0) {
        printf("PKEY-VM: FAIL %s (fork: %s)\n", name, strerror(errno));
        return 0;
    }
    if (pid == 0) {
        char *argv[] = {path, "--test-threads=1", NULL};
        char *envp[] = {"RPAL_REQUIRE_PKEY=1", "RUST_BACKTRACE=1", "PATH=/", "HOME=/tmp",
                        "TMPDIR=/tmp", NULL};
        execve(path, argv, envp);
        printf("PKEY-VM: exec %s: %s\n", path, strerror(errno));
        _exit(127);
    }
    alarm(TEST_TIMEOUT_S);
    int status = 0;
    pid_t got = waitpid(pid, &status, 0);
    alarm(0);
    if (got < 0 && errno == EINTR) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        printf("PKEY-VM: FAIL %s (timeout after %d s)\n", name, TEST_TIMEOUT_S);
        return 0;
    }
    if (got < 0) {
        printf("PKEY-VM: FAIL %s (waitpid: %s)\n", name, strerror(errno));
        return 0;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        printf("PKEY-VM: PASS %s\n", name);
        return 1;
    }
    if (WIFSIGNALED(status))
        printf("PKEY-VM: FAIL %s (signal %d)\n", name, WTERMSIG(status));
    else
        printf("PKEY-VM: FAIL %s (exit %d)\n", name, WEXITSTATUS(status));
    return 0;
}

int main(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm; /* no SA_RESTART: waitpid returns EINTR on timeout */
    sigaction(SIGALRM, &sa, NULL);

    setup();
    printf("PKEY-VM: init started\n");
    report_pku_flag();

    DIR *d = opendir(TEST_DIR);
    if (!d) {
        printf("PKEY-VM: FAIL (no %s: %s)\nPKEY-VM: DONE pass=0 fail=1\n", TEST_DIR, strerror(errno));
        power_off();
    }
    char names[64][256];
    int count = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && count < 64) {
        if (e->d_name[0] == '.') continue;
        snprintf(names[count++], sizeof names[0], "%s", e->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof names[0], (int (*)(const void *, const void *))strcmp);

    int pass = 0, fail = 0;
    for (int i = 0; i < count; i++) {
        if (run_one(names[i])) pass++;
        else fail++;
    }
    if (count == 0) fail++;
    printf("PKEY-VM: DONE pass=%d fail=%d\n", pass, fail);
    power_off();
    return 0;
}
