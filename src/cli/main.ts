// The troth CLI (DESIGN.md §8): parse, call, print. Exit codes: 0 ok, 1 operating error (a
// one-line message), 2 usage error, 3 checked and not valid (verify, witness), 70 a bug.

import { Command, CommanderError, Option } from 'commander'
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { TrothError } from '../errors.ts'
import { NotValid, processIo, type Io } from './io.ts'
import { cmdProve, cmdProveConsistency, cmdVerify, cmdVerifyConsistency, cmdWitnessAdd, cmdWitnessShow } from './audit.ts'
import { cmdGenesis, cmdId, cmdInit, cmdInspect, cmdRequest } from './offline.ts'
import { cmdCheckpoint, cmdDuties, cmdFetch, cmdMembers, cmdPolicyVote, cmdSeal, cmdSnapshots, cmdStart, cmdStatus } from './live.ts'

export const EXIT_OK = 0
export const EXIT_ERROR = 1
export const EXIT_USAGE = 2
/** verify, verify-consistency, witness add: the input was checked and is not valid (refused). */
export const EXIT_NOT_VALID = 3
export const EXIT_INTERNAL = 70

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
    return pkg.version ?? '0.0.0'
  } catch {
    return '0.0.0'
  }
}

const collect = (v: string, prev: string[]): string[] => [...prev, v]

export function buildProgram(io: Io): Command {
  const program = new Command('troth')
  program
    .description('A ledger node for cooperatives whose members are people, not coins.')
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => io.out(s), writeErr: (s) => io.err(s) })

  program
    .command('init')
    .description('create this node\'s key (encrypted keystore) and print its MemberId')
    .requiredOption('--data <dir>', 'data directory (created if missing)')
    .option('--name <name>', 'your name as members will see it (1-64 bytes)')
    .option('--insecure-plain-key', 'store the key unencrypted (tests only)')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; name?: string; insecurePlainKey?: boolean; json?: boolean }) => {
      await cmdInit(io, { data: o.data, name: o.name ?? (basename(o.data) || 'member'), plain: o.insecurePlainKey === true, json: o.json === true })
    })

  program
    .command('id')
    .description('print this node\'s MemberId (no passphrase needed)')
    .requiredOption('--data <dir>', 'data directory')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; json?: boolean }) => cmdId(io, { data: o.data, json: o.json === true }))

  program
    .command('request')
    .description('write a signed induction request for sponsors to carry (or a founding request for a genesis)')
    .requiredOption('--data <dir>', 'data directory')
    .requiredOption('--out <file>', 'file to write (must not exist)')
    .option('--genesis <file>', 'the network to join; omit for a founding request')
    .addOption(new Option('--expires-days <days>', 'days until the request expires').default('30'))
    .option('--json', 'print JSON')
    .action(async (o: { data: string; out: string; genesis?: string; expiresDays: string; json?: boolean }) =>
      cmdRequest(io, { data: o.data, out: o.out, genesis: o.genesis, expiresDays: o.expiresDays, json: o.json === true }),
    )

  program
    .command('genesis')
    .description('write a genesis file founding a new network')
    .requiredOption('--name <coop>', 'network name (A-Z a-z 0-9 . _ -)')
    .requiredOption('--founder <id-or-request>', 'a founder: MemberId, MemberId=name, or a request file (repeat)', collect, [])
    .option('--policy <key=value>', 'a policy parameter for genesis (repeat)', collect, [])
    .option('--time <ms>', 'genesis time, unix milliseconds (default: now)')
    .requiredOption('--out <file>', 'file to write (must not exist)')
    .option('--json', 'print JSON')
    .action(async (o: { name: string; founder: string[]; policy: string[]; time?: string; out: string; json?: boolean }) =>
      cmdGenesis(io, { name: o.name, founders: o.founder, policy: o.policy, time: o.time, out: o.out, json: o.json === true }),
    )

  program
    .command('inspect')
    .description('print a genesis, request, checkpoint or proof file readably')
    .argument('<file>', 'the file')
    .option('--json', 'print JSON')
    .action(async (file: string, o: { json?: boolean }) => cmdInspect(io, { file, json: o.json === true }))

  program
    .command('start')
    .description('run the node: consensus, gossip, sync, and the local control API')
    .requiredOption('--data <dir>', 'data directory (made by troth init)')
    .requiredOption('--genesis <file>', 'the network\'s genesis file')
    .option('--listen <multiaddr>', 'address to listen on, e.g. /ip4/127.0.0.1/tcp/7700 (repeat)', collect, [])
    .option('--bootstrap <multiaddr>', 'a peer to connect to, ending in /p2p/<peer id> (repeat)', collect, [])
    .option('--idle-ms <ms>', 'a leader with nothing to propose waits this long (default 1000)')
    .option('--delta-ms <ms>', 'the network delay bound the timers assume (default 250)')
    .action(async (o: { data: string; genesis: string; listen: string[]; bootstrap: string[]; idleMs?: string; deltaMs?: string }) =>
      cmdStart(io, { data: o.data, genesis: o.genesis, listen: o.listen, bootstrap: o.bootstrap, idleMs: o.idleMs, deltaMs: o.deltaMs }),
    )

  program
    .command('status')
    .description('the running node\'s view, finalized height, log size and root, epoch, peers, members')
    .requiredOption('--data <dir>', 'data directory of the running node')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; json?: boolean }) => cmdStatus(io, { data: o.data, json: o.json === true }))

  program
    .command('checkpoint')
    .description('the latest sealed checkpoint, as a C2SP signed note with the members\' cosignatures')
    .requiredOption('--data <dir>', 'data directory of the running node')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; json?: boolean }) => cmdCheckpoint(io, { data: o.data, json: o.json === true }))

  const policy = program.command('policy').description('persistent democracy over the policy parameters')
  policy
    .command('vote')
    .description('cast or change your standing vote for a parameter (VALUE "none" withdraws it)')
    .argument('<param>', 'parameter name')
    .argument('<value>', 'integer value, or none')
    .requiredOption('--data <dir>', 'data directory of the running node')
    .option('--json', 'print JSON')
    .action(async (param: string, value: string, o: { data: string; json?: boolean }) => cmdPolicyVote(io, { data: o.data, param, value, json: o.json === true }))

  program
    .command('seal')
    .description('seal a file or directory: chunk it, hold it, and record its root in the ledger; prints the root')
    .argument('<path>', 'file or directory to seal')
    .requiredOption('--data <dir>', 'data directory of the running node')
    .option('--no-wait', 'return once submitted instead of waiting until the seal is final')
    .option('--json', 'print JSON')
    .action(async (path: string, o: { data: string; wait: boolean; json?: boolean }) => cmdSeal(io, { data: o.data, path, wait: o.wait, json: o.json === true }))

  program
    .command('fetch')
    .description('get a sealed snapshot back from its replicas, every chunk checked against the root')
    .argument('<root>', 'snapshot root (hex), as troth snapshots lists it')
    .requiredOption('--out <path>', 'file or directory to create (must not exist)')
    .requiredOption('--data <dir>', 'data directory of the running node')
    .action(async (root: string, o: { data: string; out: string }) => cmdFetch(io, { data: o.data, root, out: o.out }))

  program
    .command('snapshots')
    .description('sealed snapshots, their replicas, and whether this node holds them')
    .requiredOption('--data <dir>', 'data directory of the running node')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; json?: boolean }) => cmdSnapshots(io, { data: o.data, json: o.json === true }))

  program
    .command('duties')
    .description('this node\'s duties this epoch (audits to do, snapshots to hold) and their state')
    .requiredOption('--data <dir>', 'data directory of the running node')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; json?: boolean }) => cmdDuties(io, { data: o.data, json: o.json === true }))

  program
    .command('members')
    .description('every member: status, weight, standing, strikes, duties done and missed')
    .requiredOption('--data <dir>', 'data directory of the running node')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; json?: boolean }) => cmdMembers(io, { data: o.data, json: o.json === true }))

  program
    .command('prove')
    .description('write an audit proof (c2sp.org/tlog-proof@v1 with the member chain) of a sealed snapshot or a log entry')
    .argument('[root]', 'snapshot root (hex), as troth snapshots lists it')
    .option('--entry <index>', 'prove the log entry at this index instead')
    .requiredOption('--out <file>', 'file to write (must not exist)')
    .requiredOption('--data <dir>', 'data directory of the running node')
    .option('--json', 'print JSON')
    .action(async (root: string | undefined, o: { entry?: string; out: string; data: string; json?: boolean }) =>
      cmdProve(io, { data: o.data, root, entry: o.entry, out: o.out, json: o.json === true }),
    )

  program
    .command('prove-consistency')
    .description('write the append-only proof from a tree size to the newest sealed checkpoint (tlog-witness body)')
    .argument('<old-size>', 'the size of the older tree (the checkpoint you hold)')
    .requiredOption('--out <file>', 'file to write (must not exist)')
    .requiredOption('--data <dir>', 'data directory of the running node')
    .option('--json', 'print JSON')
    .action(async (old: string, o: { out: string; data: string; json?: boolean }) => cmdProveConsistency(io, { data: o.data, old, out: o.out, json: o.json === true }))

  program
    .command('verify')
    .description('check offline that an audit proof holds: the member chain from genesis, the cosignatures, the inclusion, and the data (exit 0 valid, 3 not)')
    .argument('<proof-file>', 'the audit proof (troth prove)')
    .requiredOption('--genesis <file>', 'the network\'s genesis file: what you trust')
    .option('--path <file-or-dir>', 'the data: it must be exactly the sealed snapshot')
    .option('--json', 'print JSON')
    .action(async (proof: string, o: { genesis: string; path?: string; json?: boolean }) => cmdVerify(io, { proof, genesis: o.genesis, path: o.path, json: o.json === true }))

  program
    .command('verify-consistency')
    .description('check offline that NEW_CHECKPOINT extends OLD_CHECKPOINT (the log only grew) (exit 0 consistent, 3 not)')
    .argument('<old-checkpoint>', 'the older checkpoint (signed note or body)')
    .argument('<new-checkpoint>', 'the newer checkpoint (signed note or body)')
    .argument('<proof>', 'the tlog-witness body: old N, consistency proof, blank line, checkpoint (troth prove-consistency)')
    .option('--genesis <file>', 'also check the checkpoints are this network\'s')
    .option('--json', 'print JSON')
    .action(async (old: string, neu: string, proof: string, o: { genesis?: string; json?: boolean }) => cmdVerifyConsistency(io, { old, new: neu, proof, genesis: o.genesis, json: o.json === true }))

  const witness = program.command('witness').description('a remembering auditor: keep the largest verified checkpoint per log, accept only consistent extensions')
  witness
    .command('add')
    .description('add a checkpoint (tlog-witness add-checkpoint body, troth prove-consistency) (exit 0 accepted, 3 refused)')
    .argument('<file>', 'the add-checkpoint body: old N, consistency proof, blank line, checkpoint')
    .requiredOption('--store <dir>', 'the witness\'s directory (created if missing)')
    .option('--genesis <file>', 'the log\'s genesis: needed the first time a log is witnessed')
    .option('--members <proof>', 'an audit proof of the same checkpoint, to learn its exact member set (troth prove --entry <size - 1>)')
    .option('--json', 'print JSON')
    .action(async (file: string, o: { store: string; genesis?: string; members?: string; json?: boolean }) =>
      cmdWitnessAdd(io, { file, store: o.store, genesis: o.genesis, members: o.members, json: o.json === true }),
    )
  witness
    .command('show')
    .description('the logs this witness keeps: origin, size, root, members known')
    .requiredOption('--store <dir>', 'the witness\'s directory')
    .option('--json', 'print JSON')
    .action(async (o: { store: string; json?: boolean }) => cmdWitnessShow(io, { store: o.store, json: o.json === true }))

  return program
}

/** Run the CLI; returns the exit code. Never lets a stack trace reach the user for a TrothError. */
export async function main(argv: readonly string[], io: Io = processIo()): Promise<number> {
  const program = buildProgram(io)
  if (argv.length === 0) {
    program.outputHelp()
    return EXIT_USAGE
  }
  try {
    await program.parseAsync([...argv], { from: 'user' })
    return EXIT_OK
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0) return EXIT_OK
      return EXIT_USAGE
    }
    if (err instanceof NotValid) return EXIT_NOT_VALID
    if (err instanceof TrothError) {
      io.err(`troth: ${err.message}\n`)
      return err.code === 'input.invalid' && /^usage:/.test(err.message) ? EXIT_USAGE : EXIT_ERROR
    }
    io.err(`troth: internal error: ${(err as Error).message ?? String(err)}\n`)
    if (io.env.TROTH_DEBUG) io.err(`${(err as Error).stack ?? ''}\n`)
    return EXIT_INTERNAL
  }
}
