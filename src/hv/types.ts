// The hypervisor layer's contract: what core may ask of the OS. Named by role, free of Linux words, so a
// Windows backend can implement it; knows nothing of HTTP.

import type { Socket } from 'node:net';
import type { Duplex, Readable, Writable } from 'node:stream';

/**
 * Who owns distributions and VMs: the SID the service knows the user by. Each backend maps it to its platform's
 * own notion (Linux: `S-1-22-1-<uid>` is that uid; Windows: the SID itself); core never looks inside it.
 */
export type OwnerSid = string;

/** A host account as the host knows it. */
export interface Account {
  readonly name: string;
  readonly home: string;
  /** the platform's number for it where it has one (a POSIX uid), else null */
  readonly uid: number | null;
}

/** Who is on the other end of a local-socket connection, as proven by the OS. */
export interface PeerCredentials {
  readonly sid: OwnerSid;
  /** the caller's process, where the OS tells */
  readonly pid?: number;
}

/** A user of a distribution, as its own account database (Linux: its /etc/passwd) says. */
export interface GuestUser {
  readonly uid: number;
  readonly name: string;
  readonly home: string;
  /** the login shell; `/bin/sh` when the database names none */
  readonly shell: string;
}

/**
 * One registered distribution, as a registration store keeps it. The service decides what the fields mean; a
 * store only keeps them, whole and atomically.
 */
export interface RegistrationRecord {
  readonly id: string;
  readonly name: string;
  readonly basePath: string;
  /** WSL's filesystem version (2: wslfs) */
  readonly version: 2;
  readonly state: 'Installed' | 'Installing' | 'Uninstalling';
  readonly defaultUid: number;
  /** LXSS_DISTRO_FLAGS_* bits */
  readonly flags: number;
  readonly defaultEnvironment: readonly string[];
  readonly createdAt: string;
  readonly sizeBytes: number;
  /** set once the service created `<basePath>/rootfs`: only then may a recovery remove it */
  readonly filesCreated?: boolean;
}

/**
 * Where one owner's distributions are registered (WSL's per-user Lxss key). Reads are synchronous (a store
 * holds its records in memory); a change resolves once it is durable, and a change that could not be made
 * durable is taken back before it rejects.
 */
export interface RegistrationStore {
  all(): RegistrationRecord[];
  get(id: string): RegistrationRecord | undefined;
  /** case-insensitive, as WSL's names are */
  byName(name: string): RegistrationRecord | undefined;
  readonly defaultDistribution: string | null;
  put(record: RegistrationRecord): Promise<void>;
  remove(id: string): Promise<void>;
  setDefault(id: string | null): Promise<void>;
}

export interface HypervisorInfo {
  /** e.g. `linux` */
  readonly platform: string;
  /** what runs distributions, e.g. `linux-namespaces` */
  readonly backend: string;
}

export type ArchiveFormat = 'tar' | 'tar.gz' | 'tar.xz';

export interface ImportResult {
  /** entries extracted */
  readonly entries: number;
  /** device nodes left out (a user's namespace cannot create them) */
  readonly skippedDevices: number;
  /** uncompressed tar bytes read */
  readonly bytes: number;
  /** what was imported other than as the archive said (owners the mapping cannot hold, devices left out) */
  readonly warnings: readonly string[];
}

/** How much one import may hold. */
export interface ImportLimits {
  /** uncompressed tar bytes */
  readonly maxBytes: number;
  /** entries (files, folders, links, ...): each costs an inode */
  readonly maxEntries: number;
  /**
   * Told as the import goes: `read`, archive bytes taken from the stream (compressed, as sent); `written`,
   * tar bytes handed to the unpacker. Called often (per chunk): the caller throttles what it does with it.
   */
  readonly onProgress?: (progress: { read: number; written: number }) => void;
}

/**
 * A distribution's files under its base path, always handled as their owner would: nothing done here
 * can reach what the owner could not. Failures are HvErrors.
 */
export interface DistroFiles {
  /** A folder of the service's state that `owner` owns (e.g. where its distributions live by default). */
  ensureOwnedFolder(owner: OwnerSid, path: string): Promise<void>;
  /** Creates `basePath` and an empty root filesystem in it; `exists` if there is one already. */
  create(owner: OwnerSid, basePath: string): Promise<void>;
  /**
   * Extracts a tar (plain, gzip or xz) into the root filesystem, owners shifted into the owner's range; what
   * cannot be extracted faithfully is refused (`invalid-archive`) or changed safely and said in `warnings`.
   */
  importArchive(owner: OwnerSid, basePath: string, archive: Readable, limits: ImportLimits): Promise<ImportResult>;
  /**
   * A tar of the root filesystem with owners as the distribution sees them. Rejects (`files-missing`, ...) when
   * it cannot start; a failure later destroys the stream with an error, so it never ends cleanly cut short.
   */
  exportArchive(owner: OwnerSid, basePath: string, format: ArchiveFormat): Promise<Readable>;
  /** Whether the root filesystem is there (and the owner can enter it). */
  present(owner: OwnerSid, basePath: string): Promise<boolean>;
  /** Removes the root filesystem, and the base folder when it is then empty. */
  remove(owner: OwnerSid, basePath: string): Promise<void>;
  move(owner: OwnerSid, fromBase: string, toBase: string): Promise<void>;
  /** A file of the distribution as its own root sees it; undefined when absent or unreadable. */
  readFile(owner: OwnerSid, basePath: string, path: string): Promise<string | undefined>;
  sizeOnDisk(owner: OwnerSid, basePath: string): Promise<number>;
  /**
   * A user of the distribution by name or number, from its own account database; undefined when it has none
   * of that name (a number it does not list is still a user: `{ uid, name: String(uid), home: '/', shell: '/bin/sh' }`).
   */
  findUser(owner: OwnerSid, basePath: string, user: string | number): Promise<GuestUser | undefined>;
}

/** A host folder shown inside an instance (WSL's drvfs `/mnt/...`), with the owner's host rights only. */
export interface SharedFolder {
  readonly hostPath: string;
  /** absolute path inside the distribution */
  readonly target: string;
  readonly readOnly: boolean;
}

export interface InstanceSpec {
  readonly basePath: string;
  /** the distribution's name: its hostname unless its own configuration names one */
  readonly name: string;
  /**
   * host folders to show under the automount root (WSL's drives under `/mnt/`), by name: `home` → `/mnt/home`,
   * unless the distribution's configuration turns automount off or moves the root
   */
  readonly automount: ReadonlyArray<{ readonly name: string; readonly hostPath: string }>;
}

/**
 * What a started instance's own configuration (WSL's `/etc/wsl.conf`) made of it. The backend sets the guest
 * up from it (hostname, `/etc/hosts`, `/etc/resolv.conf`, automounts) as WSL's init does; the rest is the
 * service's to act on.
 */
export interface GuestSetup {
  readonly hostname: string;
  /** the folders it shows, automounts at their resolved targets */
  readonly shared: readonly SharedFolder[];
  /** `[user] default`: who processes run as when the request names nobody */
  readonly defaultUser?: string;
  /** `[boot] command`: run as root once the instance is up */
  readonly bootCommand?: string;
}

/** Why an instance or VM went away. */
export type StopReason = 'requested' | 'idle' | 'shutdown' | 'crashed';

export interface LaunchSpec {
  readonly argv: readonly string[];
  /** the file to execute when it is not argv[0] (a login shell: `/bin/sh` run with argv[0] `-sh`) */
  readonly executable?: string;
  readonly env: readonly string[];
  readonly cwd?: string;
  /** the guest uid to run as (resolve names with `DistroFiles.findUser`); absent: root */
  readonly user?: number;
  /** a terminal of this size instead of pipes */
  readonly tty?: { cols: number; rows: number };
}

/**
 * How a process ended, in the shell's convention, the one every layer and the API use: `exitCode` is the code
 * it exited with, or 128 + N when guest signal N (see ./signals.ts) ended it, and then `signal` is N; `signal`
 * is null for a process that exited by itself. Other places refer here instead of restating it.
 */
export interface ExitStatus {
  readonly exitCode: number;
  readonly signal: number | null;
}

/**
 * A process running in an instance. Its streams are already reading: attach listeners in the same turn
 * `spawn` resolves in (before awaiting any I/O), or the end of a process that printed nothing may pass unseen.
 */
export interface HvProcess {
  /** its pid where the backend can tell (as seen from the host) */
  readonly pid?: number;
  /** stdin (absent for a terminal: write to `terminal`) */
  readonly stdin: Writable | null;
  readonly stdout: Readable | null;
  readonly stderr: Readable | null;
  /** both directions of a terminal process */
  readonly terminal: Duplex | null;
  readonly exited: Promise<ExitStatus>;
  /** sends guest signal `signal` (./signals.ts); `exited` when it has ended already */
  kill(signal: number): Promise<void>;
  resize(cols: number, rows: number): Promise<void>;
}

/** A running distribution: its own namespaces under the VM, with our agent as PID 1. */
export interface HvInstance {
  /** host pid of the instance's PID 1, where the backend can tell */
  readonly pid?: number;
  readonly startedAt: Date;
  /** what its configuration made of it */
  readonly guest: GuestSetup;
  /** settles when the instance has ended, for whatever reason */
  readonly ended: Promise<void>;
  spawn(spec: LaunchSpec): Promise<HvProcess>;
  share(folder: SharedFolder): Promise<void>;
  unshare(target: string): Promise<void>;
  /** processes of the instance, PID 1 included */
  processCount(): Promise<number>;
  /** ends every process of the instance; resolves when nothing of it is left */
  terminate(): Promise<void>;
}

/** What a VM may use (WSL's `.wslconfig` `memory`, `swap`, `processors`, plus a process limit); null: WSL's default. */
export interface VmLimits {
  /** null: half the host's memory */
  readonly memoryBytes: number | null;
  /** null: a quarter of the memory, rounded up to a whole GiB; 0: none */
  readonly swapBytes: number | null;
  /** null: every processor of the host */
  readonly processors: number | null;
  /** processes (and threads) of the VM at once */
  readonly maxProcesses: number;
}

/** A VM's use of its limits, as the host's accounting says now; null where the host does not count it. */
export interface VmResources {
  /** false: the host could not confine the VM (see warnings), nothing below is enforced */
  readonly limited: boolean;
  readonly warnings: readonly string[];
  readonly processes: {
    readonly current: number | null;
    readonly max: number | null;
    /** times a process could not start because the VM was at `max` */
    readonly maxReached: number | null;
  };
  readonly memory: {
    readonly currentBytes: number | null;
    readonly maxBytes: number | null;
    readonly swapMaxBytes: number | null;
    /** times the VM's memory use reached `maxBytes` */
    readonly maxReached: number | null;
    /** processes killed because the VM was out of memory */
    readonly oomKills: number | null;
  };
  /** processors' worth of CPU time the VM may use */
  readonly cpus: number | null;
}

/** A user's utility VM: here, the holder of the user's namespace every instance of that user runs in. */
export interface HvVm {
  /** host pid of what holds it, where the backend can tell */
  readonly pid?: number;
  readonly startedAt: Date;
  /** what this VM lacks that the user should know, as sentences (e.g. it holds only the user's own ids) */
  readonly warnings: readonly string[];
  /** settles when the VM has ended, however (its holder killed from outside too), and its instances with it */
  readonly ended: Promise<void>;
  startInstance(spec: InstanceSpec): Promise<HvInstance>;
  /** Its limits and what it uses of them now. */
  resources(): Promise<VmResources>;
  stop(): Promise<void>;
}

export interface Hypervisor {
  readonly info: HypervisorInfo;
  readonly files: DistroFiles;
  /**
   * Where `owner`'s distributions are registered, when the platform registers distributions itself (WSL's
   * `--import`); absent: the service keeps its own registry in its state folder.
   */
  readonly registrations?: (owner: OwnerSid) => Promise<RegistrationStore>;
  /**
   * Boots the VM of `owner`, confined to `limits` where the host can (else its resources say why not);
   * `conflict` when the identities the host gives it belong to another account too (the message names both).
   */
  startVm(owner: OwnerSid, limits: VmLimits): Promise<HvVm>;
  /** What a VM of `owner` would lack or be refused for, as sentences for the user; cheap, changes nothing. */
  vmWarnings(owner: OwnerSid): Promise<readonly string[]>;
  /** The caller of a connection accepted on the local socket; throws when the OS cannot tell. */
  localPeer(socket: Socket): PeerCredentials;
  /** The host account `sid` stands for, or undefined when the host has none (or `sid` is not one of its users). */
  account(sid: OwnerSid): Account | undefined;
  /** Whether `sid` administers the service: may see every session and mint tokens for other SIDs. */
  isAdministrator(sid: OwnerSid): boolean;
  /**
   * Claims the service's state folder for this process alone; `in-use` when another service has it. The claim
   * ends with `release()` or with the process, however it ends.
   */
  claimStateDir(path: string): { release(): void };
  /**
   * How many descriptors this process may have open now: the soft limit, which an operator may change while it
   * runs (e.g. with prlimit); cheap, read afresh on each call.
   */
  descriptorLimit(): number;
  /** How many descriptors this process has open now (costs a directory listing: sample it). */
  openDescriptors(): number;
}
