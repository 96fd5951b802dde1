// membershipd's public entry for the controller: what unibus's plays use of
// the daemon (its bucket names and nonce options, the operator connection,
// the user writes that check their own input). Everything else under
// src/daemon is the daemon's own; the layering test holds every other folder
// of src to this file.
export { BUCKETS, CONTROL_STREAMS, NONCE_STREAM, nonceBucketOptions, nonceStorage, type NonceStore, type Store } from './store/buckets.js';
export { HISTORY_MARK, HISTORY_NEEDED_MS, lostMark } from './store/nonce-history.js';
export { connectInternal, pinnedTls } from './nats/connect.js';
export { bindOperatorStore, openOperatorStore } from './operator.js';
export { addUser, checkNewUser, getUser } from './store/users.js';
// Backup and restore of the control plane (play backup, play restore).
export { BackupError, backupStore, checkBackupDoc, restoreStore, type BackupDoc, type RestoreResult } from './store/backup.js';
// The data plane's subjects, as a NATS client of a user must use them (the chaos workload's data plane).
export { inboxPrefix, roomSubject } from './auth/allowlist.js';
// A reader of one replica's copy from its own store (the deep check, the chaos read-back; membershipd's scrub).
export { placeReader, readCopy, readThrough, STOPPED, type ReplicaCopy } from './nats/copy-reader.js';
