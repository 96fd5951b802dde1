// Public surface of the PKI layer.
export { planPki, isNoop, SERVER_EKU, ROUTE_EKU } from './plan.js';
export { applyPki } from './apply.js';
export { formatPlan, formatAction } from './format.js';
export { nodeFiles, secretFiles, VALIDITY } from './layout.js';
export { PkiError, MissingCaKeyError, BadKeyPairError, NodeDataError, RotationStateError } from './errors.js';
export type { PkiNode, PkiOptions, PkiPlan, PkiAction, PkiResult, ArtifactKind, ActionOp } from './types.js';
export { withPkiLock, PkiLockedError } from './lock.js';
