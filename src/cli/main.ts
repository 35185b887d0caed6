// The troth CLI (DESIGN.md §8): parse, call, print. Offline commands here: init, id, request,
// genesis, inspect; live ones in live.ts, audit ones in audit.ts. Exit codes: 0 ok, 1 operating
// error (a one-line message), 2 usage error, 3 refused (by the ledger, or a checked input that is
// not valid: verify, witness), 4 not final in time, 70 a bug.

import { Command, CommanderError, Option } from 'commander'
import { readFileSync } from 'node:fs'
import { basename } from 'node:path'
import { TrothError } from '../errors.ts'
import { NotValid, processIo, type Io } from './io.ts'
import { cmdProve, cmdProveConsistency, cmdVerify, cmdVerifyConsistency, cmdWitnessAdd, cmdWitnessShow } from './audit.ts'
import { cmdGenesis, cmdId, cmdInit, cmdInspect, cmdRequest } from './offline.ts'
import {
  cmdCheckpoint, cmdDuties, cmdExileList, cmdExilePropose, cmdExileVote, cmdFetch, cmdInduct, cmdInductions, cmdKeyRecoverCancel, cmdKeyRecoverList, cmdKeyRecoverRequest, cmdKeyRecoverSupport, cmdKeyRotate, cmdLeave, cmdMembers, cmdObject, cmdPolicy, cmdPolicyVote,
  cmdSeal, cmdSnapshots, cmdStart, cmdStatus, cmdConfigInit, SUBMIT_WAIT_MS_DEFAULT, type StartFlags,
} from './live.ts'
import { cmdDemo } from './demo.ts'

export const EXIT_OK = 0
export const EXIT_ERROR = 1
export const EXIT_USAGE = 2
/** Refused: the ledger refused the entry (the reason is printed); or verify, verify-consistency,
 * witness add checked the input and it is not valid. */
export const EXIT_REFUSED = 3
export const EXIT_NOT_VALID = EXIT_REFUSED
/** The entry was accepted by the node but is not final yet when the wait ended. */
export const EXIT_NOT_FINAL = 4
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

/** An example under --help (every command has one). */
function example(cmd: Command, text: string): void {
  cmd.addHelpText('after', `\nExample:\n  ${text}\n`)
}

interface SubmitFlags {
  data: string
  json?: boolean
  wait: boolean
  waitSeconds: string
}

/** The options every command that submits an entry shares. */
function submitting(cmd: Command): Command {
  return cmd
    .requiredOption('--data <dir>', 'data directory of the running node')
    .option('--no-wait', 'return once the node accepted the entry, not when it is final')
    .addOption(new Option('--wait-seconds <s>', 'how long to wait for finality before exit 4').default(String(SUBMIT_WAIT_MS_DEFAULT / 1000)))
    .option('--json', 'print JSON')
}

function flags(o: SubmitFlags): { data: string; json: boolean; wait: boolean; waitMs: number } {
  if (!/^[1-9][0-9]{0,4}$/.test(o.waitSeconds)) throw new TrothError('input.invalid', 'usage: --wait-seconds must be a whole number of seconds in [1, 99999]')
  return { data: o.data, json: o.json === true, wait: o.wait, waitMs: Number(o.waitSeconds) * 1000 }
}

export function buildProgram(io: Io): Command {
  const program = new Command('troth')
  program
    .description('A ledger node for cooperatives whose members are people, not coins.')
    .version(version())
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions()
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
    .description('run the node: consensus, gossip, sync, duties, the local control API and the status page')
    .option('--config <file>', 'a TOML config file (troth config init writes an example)')
    .option('--data <dir>', 'data directory (made by troth init); or data in the config')
    .option('--genesis <file>', 'the network\'s genesis file; or genesis in the config')
    .option('--listen <multiaddr>', 'address to listen on, e.g. /ip4/127.0.0.1/tcp/7700 (repeat; default /ip4/0.0.0.0/tcp/7700)', collect, [])
    .option('--bootstrap <multiaddr>', 'a peer to connect to, ending in /p2p/<peer id> (repeat)', collect, [])
    .option('--idle-ms <ms>', 'a leader with nothing to propose waits this long (default 1000)')
    .option('--delta-ms <ms>', 'the network delay bound the timers assume (default 250)')
    .option('--sync <mode>', 'how a new node catches up: replay (default: every block from genesis, full history) or checkpoint (adopt a peer\'s newest sealed checkpoint, then sync on; no history below it)')
    .option('--status <host:port>', 'status page and /metrics (default 127.0.0.1:7780; "" turns them off)')
    .option('--log-level <level>', 'trace, debug, info (default), warn or error')
    .option('--log-format <format>', 'json, pretty or auto (default: pretty on a terminal, else json)')
    .action(async (o: StartFlags) => cmdStart(io, o))

  const config = program.command('config').description('the node\'s configuration file')
  const configInit = config
    .command('init')
    .description('print (or write) a commented example configuration with every key and its default')
    .option('--out <file>', 'write it to this file (must not exist) instead of stdout')
    .action(async (o: { out?: string }) => cmdConfigInit(io, { out: o.out }))
  example(configInit, 'troth config init --out /etc/troth/troth.toml')

  const demo = program
    .command('demo')
    .description('a small cooperative on this machine, narrated: 4 founders, an induction, a sealed snapshot, audits, and an exile')
    .option('--dir <dir>', 'keep the cooperative\'s data here (default: a temporary directory, removed at the end)')
    .option('--exit-when-done', 'stop once the non-auditing node is exiled, instead of waiting for Ctrl-C')
    .option('--keep', 'keep the temporary directory')
    .action(async (o: { dir?: string; exitWhenDone?: boolean; keep?: boolean }) => cmdDemo(io, { dir: o.dir, exitWhenDone: o.exitWhenDone === true, keep: o.keep === true }))
  example(demo, 'troth demo')

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

  const policy = program
    .command('policy')
    .description('the policy in force: each parameter\'s effective value, genesis value, range and votes')
    // `policy vote … --data` is vote's option, not policy's; and policy's --data is checked in its
    // action (a required option here would be demanded of `policy vote` too).
    .enablePositionalOptions()
    .option('--data <dir>', 'data directory of the running node (required)')
    .option('--json', 'print JSON')
    .action(async (o: { data?: string; json?: boolean }) => {
      if (o.data === undefined) throw new TrothError('input.invalid', "usage: required option '--data <dir>' not specified")
      await cmdPolicy(io, { data: o.data, json: o.json === true })
    })
  example(policy, 'troth policy --data ~/.troth')
  submitting(
    policy
      .command('vote')
      .description('cast or change your standing vote for a parameter (VALUE "none" withdraws it); counts from the next epoch')
      .argument('<param>', 'parameter name (troth policy lists them)')
      .argument('<value>', 'integer value, or none'),
  ).action(async (param: string, value: string, o: SubmitFlags) => cmdPolicyVote(io, { ...flags(o), param, value }))
  example(policy.commands.find((c) => c.name() === 'vote') as Command, 'troth policy vote chunksPerAudit 6 --data ~/.troth')

  const induct = submitting(
    program
      .command('induct')
      .description('vouch for a candidate: submit their induction request (made with troth request) as an induct.vouch')
      .argument('<request-file>', 'the candidate\'s request file'),
  ).action(async (request: string, o: SubmitFlags) => cmdInduct(io, { ...flags(o), request }))
  example(induct, 'troth induct carol.request --data ~/.troth')

  const object = submitting(
    program
      .command('object')
      .description('object to an open induction; enough objection weight stops it')
      .argument('<candidate>', 'the candidate\'s MemberId (troth inductions lists them)')
      .requiredOption('--reason <text>', 'why (recorded in the ledger, at most 256 bytes)'),
  ).action(async (candidate: string, o: SubmitFlags & { reason: string }) => cmdObject(io, { ...flags(o), candidate, reason: o.reason }))
  example(object, 'troth object troth1abc… --reason "nobody has met them" --data ~/.troth')

  const inductions = program
    .command('inductions')
    .description('open inductions: vouches, objections, when the window closes, what each still needs')
    .requiredOption('--data <dir>', 'data directory of the running node')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; json?: boolean }) => cmdInductions(io, { data: o.data, json: o.json === true }))
  example(inductions, 'troth inductions --data ~/.troth')

  const leave = submitting(
    program.command('leave').description('leave the cooperative at the end of this epoch (final: needs --yes)').option('--yes', 'confirm'),
  ).action(async (o: SubmitFlags & { yes?: boolean }) => cmdLeave(io, { ...flags(o), yes: o.yes === true }))
  example(leave, 'troth leave --yes --data ~/.troth')

  const exile = program.command('exile').description('exile by vote: propose, vote, list open proposals')
  const propose = submitting(
    exile
      .command('propose')
      .description('propose to exile a member (your yes vote counts); it passes above exileVoteWeight of the weight at an epoch close')
      .argument('<member>', 'the member\'s MemberId')
      .requiredOption('--reason <text>', 'why (recorded in the ledger, at most 256 bytes)'),
  ).action(async (member: string, o: SubmitFlags & { reason: string }) => cmdExilePropose(io, { ...flags(o), member, reason: o.reason }))
  example(propose, 'troth exile propose troth1abc… --reason "sold their vote" --data ~/.troth')
  const vote = submitting(
    exile.command('vote').description('vote yes on an open exile proposal').argument('<proposal>', 'the MemberId the proposal targets (troth exile list)'),
  ).action(async (member: string, o: SubmitFlags) => cmdExileVote(io, { ...flags(o), member }))
  example(vote, 'troth exile vote troth1abc… --data ~/.troth')
  const list = exile
    .command('list')
    .description('open exile proposals, their yes weight, and whether they pass at the next close')
    .requiredOption('--data <dir>', 'data directory of the running node')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; json?: boolean }) => cmdExileList(io, { data: o.data, json: o.json === true }))
  example(list, 'troth exile list --data ~/.troth')

  const key = program.command('key').description('your key: a planned rotation, or recovery of a lost key (your MemberId never changes)')
  const rotate = submitting(
    key.command('rotate').description('make a new key (DIR/key.next, same passphrase) and record the switch; the node switches when the epoch ends'),
  ).action(async (o: SubmitFlags) => cmdKeyRotate(io, flags(o)))
  example(rotate, 'troth key rotate --data ~/.troth')
  const recover = key.command('recover').description('re-key a member who lost its key: request (new key), support (sponsors), cancel (old key), list')
  const recoverRequest = recover
    .command('request')
    .description('with a new key (troth init --data NEW_DIR), write the request your sponsors will support')
    .requiredOption('--data <dir>', 'data directory holding the NEW key')
    .requiredOption('--member <id>', 'your MemberId (the one whose key was lost)')
    .requiredOption('--genesis <file>', 'the cooperative\'s genesis file')
    .requiredOption('--out <file>', 'file to write (must not exist)')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; member: string; genesis: string; out: string; json?: boolean }) =>
      cmdKeyRecoverRequest(io, { data: o.data, member: o.member, genesis: o.genesis, out: o.out, json: o.json === true }),
    )
  example(recoverRequest, 'troth key recover request --data ~/.troth-new --member troth1abc… --genesis coop.genesis --out bob.recovery')
  const support = submitting(
    recover.command('support').description('support a recovery request (opens the recovery, or adds your support)').argument('<file>', 'the recovery request file'),
  ).action(async (file: string, o: SubmitFlags) => cmdKeyRecoverSupport(io, { ...flags(o), file }))
  example(support, 'troth key recover support bob.recovery --data ~/.troth')
  const cancel = submitting(recover.command('cancel').description('with your current key: cancel an open recovery of yourself (during the delay)')).action(
    async (o: SubmitFlags) => cmdKeyRecoverCancel(io, flags(o)),
  )
  example(cancel, 'troth key recover cancel --data ~/.troth')
  const recoveries = recover
    .command('list')
    .description('open key recoveries: support, when they may take effect, when they lapse')
    .requiredOption('--data <dir>', 'data directory of the running node')
    .option('--json', 'print JSON')
    .action(async (o: { data: string; json?: boolean }) => cmdKeyRecoverList(io, { data: o.data, json: o.json === true }))
  example(recoveries, 'troth key recover list --data ~/.troth')

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

  const examples: Record<string, string> = {
    init: 'troth init --data ~/.troth --name alice',
    id: 'troth id --data ~/.troth',
    request: 'troth request --data ~/.troth --genesis coop.genesis --out alice.request',
    genesis: 'troth genesis --name coop --founder alice.request --founder bob.request --out coop.genesis',
    inspect: 'troth inspect coop.genesis',
    start: 'troth start --config /etc/troth/troth.toml   # or: --data ~/.troth --genesis coop.genesis --listen /ip4/0.0.0.0/tcp/7700 --bootstrap /ip4/192.0.2.7/tcp/7700/p2p/12D3KooW…',
    status: 'troth status --data ~/.troth',
    checkpoint: 'troth checkpoint --data ~/.troth > latest.checkpoint',
    seal: 'troth seal ~/photos/2026 --data ~/.troth',
    fetch: 'troth fetch 5d41…c2 --out restored --data ~/.troth',
    snapshots: 'troth snapshots --data ~/.troth',
    duties: 'troth duties --data ~/.troth',
    members: 'troth members --data ~/.troth --json',
    prove: 'troth prove 5d41…c2 --out minutes.proof --data ~/.troth',
    'prove-consistency': 'troth prove-consistency 1200 --out grew.body --data ~/.troth',
    verify: 'troth verify minutes.proof --genesis coop.genesis --path ./minutes-2026',
    'verify-consistency': 'troth verify-consistency old.checkpoint new.checkpoint grew.body',
  }
  for (const c of program.commands) {
    const text = examples[c.name()]
    if (text !== undefined) example(c, text)
  }
  example(witness.commands.find((c) => c.name() === 'add') as Command, 'troth witness add grew.body --store ~/.troth-witness --genesis coop.genesis')
  example(witness.commands.find((c) => c.name() === 'show') as Command, 'troth witness show --store ~/.troth-witness')
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
      if (err.code === 'ledger.refused') return EXIT_REFUSED
      if (err.code === 'ledger.not-final') return EXIT_NOT_FINAL
      return err.code === 'input.invalid' && /^usage:/.test(err.message) ? EXIT_USAGE : EXIT_ERROR
    }
    io.err(`troth: internal error: ${(err as Error).message ?? String(err)}\n`)
    if (io.env.TROTH_DEBUG) io.err(`${(err as Error).stack ?? ''}\n`)
    return EXIT_INTERNAL
  }
}
