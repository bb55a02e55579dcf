/*
 * cylo's pre-start stub for Java (issue 19; docs/security.md "Pre-started runtimes").
 *
 * A pre-started JVM is the run stage's own command line, `java FLAGS -cp .build MAIN ROOM`, with
 * this JVMTI agent added before -cp (-agentpath:/.cylo/prestart/java/libcylo-prestart.so). The
 * stock launcher (libjli) creates the JVM on its "main" thread; the JVM posts VMInit on that
 * thread once it is fully initialised (module system, system class loader), before the launcher
 * loads MAIN. Here the agent blocks reading fd 1000 (PRESTART_HANDOVER_FD in native/prestart.h)
 * for the request's argv; then it returns, and the launcher goes on exactly as for a cold start:
 * it loads MAIN from the class path, calls main on the real main thread through JNI (no Java
 * frame below main: stack traces are a cold start's), reports an uncaught exception through the
 * thread's handler, exits 1 after it, waits for non-daemon threads (DestroyJavaVM), runs the
 * shutdown hooks and handles signals, all with its own code.
 *
 * What the launcher cannot know is the program's arguments: its String[] was fixed at start
 * (one item, ROOM). The agent builds the program's String[] the way the launcher does
 * (sun.launcher.LauncherHelper.makePlatformString on each argument's bytes) and substitutes it
 * in the launcher's one call of main: it replaces JNI's CallStaticVoidMethod (JVMTI
 * SetJNIFunctionTable) until that call, then puts the JVM's own table back before main runs,
 * so the program's own JNI code sees the JVM's functions. It also sets sun.java.command to what
 * the launcher would have set ("MAIN ARG1 ARG2...").
 *
 * Trusted only until the handover: it runs with the program's uid, Landlock, seccomp and rlimits
 * and holds nothing the program may not see. Any failure ends the JVM with status 70 and a line
 * on stderr naming the step (the runtime then ends as its request's program would not: a cylo
 * bug, never silently a different program).
 */
#include <errno.h>
#include <fcntl.h>
#include <jni.h>
#include <jvmti.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define HANDOVER_FD 1000 /* PRESTART_HANDOVER_FD */
#define READY_FD 1001    /* PRESTART_READY_FD */
#define MAX_ITEMS 4096

static jvmtiEnv *jvmti;
static jniNativeInterface *jvm_table; /* the JVM's own JNI functions (a copy) */
static jobjectArray program_args;     /* a global reference until main's call */
static volatile int substituted;

static void die(const char *what, const char *detail) __attribute__((noreturn));
static void die(const char *what, const char *detail) {
  dprintf(2, "cylo prestart (java): %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
  _exit(70);
}

/* A NUL-separated list (at most MAX_ITEMS items) read whole from FD, then FD closed. */
static size_t read_items(int fd, char **data, char **items) {
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  if (buf == NULL) die("out of memory", NULL);
  for (;;) {
    if (len == cap && (buf = realloc(buf, cap *= 2)) == NULL) die("out of memory", NULL);
    ssize_t n = read(fd, buf + len, cap - len);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) die("reading", strerror(errno));
    if (n == 0) break;
    len += (size_t)n;
  }
  if (close(fd) < 0) die("close", strerror(errno));
  if (len > 0 && buf[len - 1] != '\0') die("reading", "an unterminated item");
  size_t count = 0;
  for (size_t at = 0; at < len; at += strlen(buf + at) + 1) {
    if (count == MAX_ITEMS) die("reading", "too many items");
    items[count++] = buf + at;
  }
  *data = buf;
  return count;
}

static jstring platform_string(JNIEnv *env, jclass helper, jmethodID make, const char *s) {
  jsize len = (jsize)strlen(s);
  jbyteArray bytes = (*env)->NewByteArray(env, len);
  if (bytes == NULL) die("NewByteArray", NULL);
  (*env)->SetByteArrayRegion(env, bytes, 0, len, (const jbyte *)s);
  jstring str = (jstring)(*env)->CallStaticObjectMethod(env, helper, make, JNI_TRUE, bytes);
  if ((*env)->ExceptionCheck(env) || str == NULL) die("makePlatformString", NULL);
  (*env)->DeleteLocalRef(env, bytes);
  return str;
}

/* Whether METHOD is `static void main(String[])`. */
static int is_main(jmethodID method) {
  char *name = NULL, *sig = NULL;
  if ((*jvmti)->GetMethodName(jvmti, method, &name, &sig, NULL) != JVMTI_ERROR_NONE) die("GetMethodName", NULL);
  int yes = strcmp(name, "main") == 0 && strcmp(sig, "([Ljava/lang/String;)V") == 0;
  (*jvmti)->Deallocate(jvmti, (unsigned char *)name);
  (*jvmti)->Deallocate(jvmti, (unsigned char *)sig);
  return yes;
}

/* CallStaticVoidMethod while the substitution is in place. The launcher's call of main (JavaMain
 * in libjli, on the thread that created the JVM: LAUNCHER_ENV) gets the program's arguments
 * instead of ROOM, after the JVM's own table is back; any other call (another thread's, another
 * method's) goes to the JVM's function unchanged. */
static JNIEnv *launcher_env;
static void JNICALL call_main(JNIEnv *env, jclass cls, jmethodID method, ...) {
  va_list ap;
  va_start(ap, method);
  if (env != launcher_env || substituted || !is_main(method)) {
    jvm_table->CallStaticVoidMethodV(env, cls, method, ap);
    va_end(ap);
    return;
  }
  jobject launcher_args = va_arg(ap, jobject);
  va_end(ap);
  substituted = 1;
  if ((*jvmti)->SetJNIFunctionTable(jvmti, jvm_table) != JVMTI_ERROR_NONE) die("SetJNIFunctionTable", "restore");
  (*env)->DeleteLocalRef(env, launcher_args);
  jvalue arg = {.l = (*env)->NewLocalRef(env, program_args)};
  (*env)->DeleteGlobalRef(env, program_args);
  (*jvmti)->DisposeEnvironment(jvmti);
  jvm_table->CallStaticVoidMethodA(env, cls, method, &arg);
}

/* The program's String[] and sun.java.command, from the handed-over argv ITEMS (cold argv[2..])
 * of which the first SKIP are this JVM's own options and class path, up to and with MAIN. */
static void take_arguments(JNIEnv *env, char **items, size_t count, size_t skip) {
  jclass helper = (*env)->FindClass(env, "sun/launcher/LauncherHelper");
  jclass string = (*env)->FindClass(env, "java/lang/String");
  jclass system = (*env)->FindClass(env, "java/lang/System");
  if (helper == NULL || string == NULL || system == NULL) die("FindClass", NULL);
  jmethodID make = (*env)->GetStaticMethodID(env, helper, "makePlatformString", "(Z[B)Ljava/lang/String;");
  jmethodID set = (*env)->GetStaticMethodID(env, system, "setProperty", "(Ljava/lang/String;Ljava/lang/String;)Ljava/lang/String;");
  if (make == NULL || set == NULL) die("GetStaticMethodID", NULL);
  jobjectArray args = (*env)->NewObjectArray(env, (jsize)(count - skip), string, NULL);
  if (args == NULL) die("NewObjectArray", NULL);
  size_t command_len = strlen(items[skip - 1]) + 1;
  for (size_t i = skip; i < count; i++) {
    jstring s = platform_string(env, helper, make, items[i]);
    (*env)->SetObjectArrayElement(env, args, (jsize)(i - skip), s);
    (*env)->DeleteLocalRef(env, s);
    command_len += strlen(items[i]) + 1;
  }
  program_args = (*env)->NewGlobalRef(env, args);
  /* libjli's SetJavaCommandLineProp: the main class, then " ARG" for each argument. */
  char *command = malloc(command_len);
  if (command == NULL || program_args == NULL) die("out of memory", NULL);
  strcpy(command, items[skip - 1]);
  for (size_t i = skip; i < count; i++) {
    strcat(command, " ");
    strcat(command, items[i]);
  }
  jstring key = platform_string(env, helper, make, "sun.java.command");
  jstring value = platform_string(env, helper, make, command);
  (*env)->CallStaticObjectMethod(env, system, set, key, value);
  if ((*env)->ExceptionCheck(env)) die("System.setProperty", NULL);
  free(command);
}

/* This JVM's own argv (before PID 1 rewrites it at the handover). */
static size_t own_argv(char **data, char **items) {
  int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd < 0) die("open /proc/self/cmdline", strerror(errno));
  return read_items(fd, data, items);
}

static void JNICALL vm_init(jvmtiEnv *jv, JNIEnv *env, jthread thread) {
  (void)jv;
  (void)thread;
  static char *own[MAX_ITEMS], *given[MAX_ITEMS];
  char *own_data, *given_data;
  /* own: java, FLAGS..., -agentpath:THIS, -cp, CP, MAIN, ROOM. The cold argv is the same without
   * the agent and ROOM; the handover carries its items from 2 on. */
  size_t n = own_argv(&own_data, own);
  size_t agent = 0;
  while (agent < n && strncmp(own[agent], "-agentpath:", 11) != 0) agent++;
  if (n < 5 || agent < 2 || agent + 4 != n - 1) die("unexpected command line", NULL);
  if (write(READY_FD, "\1", 1) != 1) die("ready", strerror(errno));
  if (close(READY_FD) < 0) die("close", strerror(errno));
  size_t count = read_items(HANDOVER_FD, &given_data, given);
  /* The JVM's own items as the handover repeats them: FLAGS[2..], then -cp CP MAIN. */
  size_t skip = n - 4;
  if (count < skip) die("handover", "fewer items than the JVM's own");
  for (size_t i = 0; i < skip; i++) {
    const char *mine = own[i + 2 < agent ? i + 2 : i + 3];
    if (strcmp(given[i], mine) != 0) die("handover", "not the command line this JVM was started with");
  }
  take_arguments(env, given, count, skip);
  free(own_data);
  free(given_data);
  if ((*jvmti)->GetJNIFunctionTable(jvmti, &jvm_table) != JVMTI_ERROR_NONE) die("GetJNIFunctionTable", NULL);
  static jniNativeInterface hooked;
  launcher_env = env;
  hooked = *jvm_table;
  hooked.CallStaticVoidMethod = call_main;
  if ((*jvmti)->SetJNIFunctionTable(jvmti, &hooked) != JVMTI_ERROR_NONE) die("SetJNIFunctionTable", NULL);
}

/* The class path's relative directories exist before the JVM reads it (the system class loader
 * takes a missing directory for a jar file, and the request's .build arrives at its handover),
 * as they do for a cold start of a compiled program. */
static void make_class_path(void) {
  char *cp = NULL;
  if ((*jvmti)->GetSystemProperty(jvmti, "java.class.path", &cp) != JVMTI_ERROR_NONE || cp == NULL) die("java.class.path", NULL);
  for (char *dir = strtok(cp, ":"); dir != NULL; dir = strtok(NULL, ":"))
    if (dir[0] != '/' && strstr(dir, "..") == NULL && mkdir(dir, 0755) < 0 && errno != EEXIST) die("mkdir", strerror(errno));
  (*jvmti)->Deallocate(jvmti, (unsigned char *)cp);
}

JNIEXPORT jint JNICALL Agent_OnLoad(JavaVM *vm, char *options, void *reserved) {
  (void)options;
  (void)reserved;
  if ((*vm)->GetEnv(vm, (void **)&jvmti, JVMTI_VERSION_1_2) != JNI_OK) die("GetEnv", NULL);
  make_class_path();
  jvmtiEventCallbacks callbacks;
  memset(&callbacks, 0, sizeof callbacks);
  callbacks.VMInit = vm_init;
  if ((*jvmti)->SetEventCallbacks(jvmti, &callbacks, sizeof callbacks) != JVMTI_ERROR_NONE) die("SetEventCallbacks", NULL);
  if ((*jvmti)->SetEventNotificationMode(jvmti, JVMTI_ENABLE, JVMTI_EVENT_VM_INIT, NULL) != JVMTI_ERROR_NONE) die("SetEventNotificationMode", NULL);
  return JNI_OK;
}
