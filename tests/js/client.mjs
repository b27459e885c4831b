// ethers.js v6 against a dev node: the calls a dapp or a deploy script makes.
//
//   node tests/js/client.mjs RPC_URL ARTIFACT.json
//
// ARTIFACT.json is {"abi": [...], "bytecode": "0x..."} of the test contract
// (tests/js/test_ethers_client.py compiles it with Vyper): constructor
// (initial: uint256), store(uint256) emitting Stored(indexed who, value) and
// reverting with "unlucky number" for 13, get() view, fail() that always
// reverts with "always fails". Every step runs even if an earlier one failed;
// the results are printed as one JSON object and the exit code is 0 only if no
// step failed. The WebSocket URL is the RPC URL with ws:// (same port).
import { readFileSync } from "node:fs";
import { ethers } from "ethers";

const MNEMONIC = "test test test test test test test test test test test junk";
const STEP_TIMEOUT_MS = 15_000;
const TOTAL_TIMEOUT_MS = 60_000;

const [url, artifactPath] = process.argv.slice(2);
if (!url || !artifactPath) {
  console.error("usage: node client.mjs RPC_URL ARTIFACT.json");
  process.exit(2);
}
const wsUrl = url.replace(/^http/, "ws");
const { abi, bytecode } = JSON.parse(readFileSync(artifactPath, "utf8"));

const out = { url, ethers: ethers.version, steps: {}, errors: [] };
const watchdog = setTimeout(() => {
  out.errors.push({ step: "watchdog", error: `still running after ${TOTAL_TIMEOUT_MS} ms` });
  finish(1);
}, TOTAL_TIMEOUT_MS);

function finish(code) {
  clearTimeout(watchdog);
  process.stdout.write(JSON.stringify(out, (_, v) => (typeof v === "bigint" ? v.toString() : v), 2) + "\n");
  process.exit(code);
}

function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function step(name, fn) {
  const t0 = Date.now();
  try {
    out.steps[name] = await withTimeout(fn(), STEP_TIMEOUT_MS, name);
    return out.steps[name];
  } catch (err) {
    out.steps[name] = null;
    out.errors.push({ step: name, error: err?.shortMessage ?? err?.message ?? String(err), code: err?.code });
    return null;
  } finally {
    (out.ms ??= {})[name] = Date.now() - t0;
  }
}

// What a caught revert looks like to ethers: the code and the decoded reason.
async function expectRevert(fn) {
  try {
    await fn();
  } catch (err) {
    return { code: err.code, reason: err.reason ?? null, shortMessage: err.shortMessage ?? null,
             data: err.data ?? err.info?.error?.data ?? null };
  }
  throw new Error("expected a revert, got success");
}

// cacheTimeout -1: ethers v6 otherwise reuses identical answers for 250 ms, so a
// second send right after a mined one would reuse the old "pending" nonce.
const provider = new ethers.JsonRpcProvider(url, undefined, { pollingInterval: 100, cacheTimeout: -1 });
const wallet = ethers.HDNodeWallet.fromPhrase(MNEMONIC, undefined, "m/44'/60'/0'/0/1").connect(provider);
let signer = null;
let contract = null;
let deployBlock = 0;

await step("basics", async () => {
  const network = await provider.getNetwork();
  return {
    chainId: Number(network.chainId),
    blockNumber: await provider.getBlockNumber(),
    walletAddress: wallet.address,
    walletBalance: await provider.getBalance(wallet.address),
  };
});

await step("unlockedSigner", async () => {
  signer = await provider.getSigner(0);
  return { address: await signer.getAddress(), balance: await provider.getBalance(signer) };
});

await step("deploy", async () => {
  const factory = new ethers.ContractFactory(abi, bytecode, wallet);
  const deployed = await factory.deploy(42n);
  await deployed.waitForDeployment();
  const receipt = await deployed.deploymentTransaction().wait();
  contract = deployed;
  deployBlock = receipt.blockNumber;
  return { address: await deployed.getAddress(), status: receipt.status,
           blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed,
           code: (await provider.getCode(await deployed.getAddress())).length > 2 };
});

await step("viewCall", async () => ({ get: await contract.get(), value: await contract.value(),
                                      owner: await contract.owner() }));

await step("transact", async () => {
  const tx = await contract.store(7n);
  const receipt = await tx.wait();
  const events = receipt.logs.map((log) => contract.interface.parseLog(log))
    .filter(Boolean).map((ev) => ({ name: ev.name, who: ev.args.who, value: ev.args.value }));
  return { hash: tx.hash, status: receipt.status, events, valueAfter: await contract.get() };
});

await step("estimateGas", async () => {
  const estimate = await contract.store.estimateGas(8n);
  const receipt = await (await contract.store(8n)).wait();
  const plain = await provider.estimateGas({ from: wallet.address, to: signer?.address ?? wallet.address, value: 1n });
  return { estimate, gasUsed: receipt.gasUsed, plainTransfer: plain };
});

await step("revert", async () => ({
  sendWithReason: await expectRevert(() => contract.store(13n)),
  staticCall: await expectRevert(() => contract.fail.staticCall()),
  estimate: await expectRevert(() => contract.fail.estimateGas()),
  viaProviderCall: await expectRevert(() => provider.call({ to: contract.target,
    data: contract.interface.encodeFunctionData("store", [13n]) })),
}));

await step("unlockedSend", async () => {
  const tx = await contract.connect(signer).store(21n);
  const receipt = await tx.wait();
  const ev = contract.interface.parseLog(receipt.logs[0]);
  const eth = await (await signer.sendTransaction({ to: wallet.address, value: 12345n })).wait();
  return { from: tx.from, status: receipt.status, who: ev?.args.who, value: ev?.args.value,
           ethTransferStatus: eth.status };
});

await step("eip1559", async () => {
  const tx = await wallet.sendTransaction({ to: signer.address, value: 1n, type: 2 });
  const receipt = await tx.wait();
  const fetched = await provider.getTransaction(tx.hash);
  return { type: fetched.type, status: receipt.status, maxFeePerGas: fetched.maxFeePerGas,
           maxPriorityFeePerGas: fetched.maxPriorityFeePerGas,
           effectiveGasPrice: receipt.gasPrice };
});

await step("legacy", async () => {
  const { gasPrice } = await provider.getFeeData();
  const tx = await wallet.sendTransaction({ to: signer.address, value: 1n, type: 0, gasPrice });
  const receipt = await tx.wait();
  const fetched = await provider.getTransaction(tx.hash);
  return { type: fetched.type, status: receipt.status, gasPrice: fetched.gasPrice };
});

await step("logs", async () => {
  const topic = contract.interface.getEvent("Stored").topicHash;
  const all = await provider.getLogs({ address: contract.target, fromBlock: deployBlock,
                                       toBlock: "latest", topics: [topic] });
  const byWallet = await contract.queryFilter(contract.filters.Stored(wallet.address), deployBlock);
  const bySigner = await contract.queryFilter(contract.filters.Stored(signer.address), deployBlock);
  const none = await provider.getLogs({ address: contract.target, fromBlock: deployBlock,
                                        toBlock: "latest", topics: [ethers.id("Nope()")] });
  return { all: all.length, byWallet: byWallet.map((e) => e.args.value),
           bySigner: bySigner.map((e) => e.args.value), none: none.length };
});

await step("websocket", async () => {
  const ws = new ethers.WebSocketProvider(wsUrl);
  try {
    const chainId = Number((await ws.getNetwork()).chainId);
    const wsContract = new ethers.Contract(contract.target, abi, ws);
    const gotBlock = new Promise((resolve) => ws.once("block", (n) => resolve(n)));
    const gotEvent = new Promise((resolve) =>
      wsContract.once("Stored", (who, value) => resolve({ who, value })));
    await new Promise((r) => setTimeout(r, 500)); // let both eth_subscribe calls land
    const receipt = await (await contract.store(99n)).wait();
    const [block, event] = await withTimeout(Promise.all([gotBlock, gotEvent]), 10_000,
                                             "newHeads + logs subscriptions");
    return { chainId, block, event, txBlock: receipt.blockNumber };
  } finally {
    await ws.destroy();
  }
});

provider.destroy();
finish(out.errors.length ? 1 : 0);
