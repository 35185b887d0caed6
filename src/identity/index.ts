// The identity module's public face (DESIGN.md §1): Ed25519 keys and THE verification rule,
// domain-separated signing, MemberIds and the node's keystore. Other modules import from here.

export { PUBLIC_KEY_BYTES, SEED_BYTES, SIGNATURE_BYTES, generateSeed, publicKeyOf, signRaw, verifyRaw } from './ed25519.ts'
export { TAG, type Tag } from './tags.ts'
export { domainMessage, sign, verify } from './sign.ts'
export { MEMBER_ID_CHARS, MEMBER_ID_PREFIX, formatMemberId, isMemberId, parseMemberId, type MemberId } from './member-id.ts'
export {
  KEYSTORE_FILE_BYTES_MAX,
  KEYSTORE_NAME_BYTES_MAX,
  SCRYPT_LOG_N_DEFAULT,
  SCRYPT_LOG_N_MAX,
  SCRYPT_LOG_N_MIN,
  SecretSeed,
  createKeystore,
  loadKeystore,
  readKeystorePublic,
  type CreateKeystoreOptions,
  type Keystore,
  type KeystorePublic,
  type LoadKeystoreOptions,
} from './keystore.ts'
