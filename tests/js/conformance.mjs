// ethers.js v6 against a dev node: signing, the pending pool, EIP-7702, tracing.
//
//   node tests/js/conformance.mjs RPC_URL
//
// Each step runs even if an earlier one failed; one JSON object is printed and
// the exit code is 0 only if no step failed (tests/js/test_ethers_conformance.py).
import { ethers } from "ethers";

const MNEMONIC = "test test test test test test test test test test test junk";
const [url] = process.argv.slice(2);
const out = { steps: {}, errors: [] };
const provider = new ethers.JsonRpcProvider(url, undefined, { pollingInterval: 100, cacheTimeout: -1 });
const wallet = ethers.HDNodeWallet.fromPhrase(MNEMONIC, undefined, "m/44'/60'/0'/0/2").connect(provider);
const dev0 = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

async function step(name, fn) {
  try {
    out.steps[name] = await fn();
  } catch (err) {
    out.steps[name] = null;
    out.errors.push({ step: name, error: err?.shortMessage ?? err?.message ?? String(err), code: err?.code });
  }
}

const signer = await provider.getSigner(dev0);

await step("signMessage", async () => {
  const sig = await signer.signMessage("Sign in with Ethereum to AIVM");
  return { recovered: ethers.verifyMessage("Sign in with Ethereum to AIVM", sig) };
});

await step("signTypedData", async () => {
  const domain = { name: "Permit2", version: "1", chainId: 31337, verifyingContract: "0x000000000022D473030F116dDEE9F6B43aC78BA3" };
  const types = { Permit: [{ name: "owner", type: "address" }, { name: "value", type: "uint256" }, { name: "deadline", type: "uint256" }] };
  const value = { owner: dev0, value: 10n ** 18n, deadline: 1n << 40n };
  const sig = await signer.signTypedData(domain, types, value);
  return { recovered: ethers.verifyTypedData(domain, types, value, sig) };
});

await step("pendingPool", async () => {
  await provider.send("evm_setAutomine", [false]);
  try {
    const nonce = await provider.getTransactionCount(wallet.address, "pending");
    const base = { to: dev0, value: 1n, nonce, gasLimit: 21000n, type: 2 };
    const first = await wallet.sendTransaction({ ...base, maxFeePerGas: 10_000_000_000n, maxPriorityFeePerGas: 2_000_000_000n });
    const seen = await provider.getTransaction(first.hash);
    let underpriced = null;
    try {
      await wallet.sendTransaction({ ...base, maxFeePerGas: 10_500_000_000n, maxPriorityFeePerGas: 2_100_000_000n });
    } catch (err) {
      underpriced = err.code;
    }
    const second = await wallet.sendTransaction({ ...base, maxFeePerGas: 12_000_000_000n, maxPriorityFeePerGas: 2_400_000_000n });
    const pending = await provider.getBlock("pending");
    const status = await provider.send("txpool_status", []);
    await provider.send("evm_mine", []);
    const receipt = await provider.getTransactionReceipt(second.hash);
    return { pendingBlockNumber: seen.blockNumber, underpriced, pendingTxs: pending.transactions,
             secondHash: second.hash, txpoolPending: status.pending, minedStatus: receipt.status,
             firstGone: (await provider.getTransaction(first.hash)) === null };
  } finally {
    await provider.send("evm_setAutomine", [true]);
  }
});

await step("eip7702", async () => {
  const delegate = "0x" + "cd".repeat(20);
  const nonce = await provider.getTransactionCount(wallet.address);
  const auth = await wallet.authorize({ address: delegate, nonce: nonce + 1, chainId: 31337n });
  const tx = await wallet.sendTransaction({ type: 4, to: wallet.address, authorizationList: [auth], gasLimit: 100000n });
  const receipt = await tx.wait();
  return { type: receipt.type, status: receipt.status, code: await provider.getCode(wallet.address) };
});

await step("trace", async () => {
  const tx = await signer.sendTransaction({ to: wallet.address, value: 7n });
  await tx.wait();
  const call = await provider.send("debug_traceTransaction", [tx.hash, { tracer: "callTracer" }]);
  const raw = await provider.send("eth_getRawTransactionByHash", [tx.hash]);
  return { type: call.type, value: call.value, to: call.to, rawHashMatches: ethers.keccak256(raw) === tx.hash };
});

await step("overridesAndAccessList", async () => {
  const target = "0x" + "42".repeat(20);
  const got = await provider.send("eth_call", [{ to: target }, "latest", { [target]: { code: "0x602a60005260206000f3" } }]);
  const list = await provider.send("eth_createAccessList", [{ from: dev0, to: target }, "latest"]);
  return { call: BigInt(got).toString(), gasUsed: BigInt(list.gasUsed).toString() };
});

await step("badInput", async () => {
  try {
    await provider.send("eth_signTypedData_v4", [dev0, { types: {} }]);
  } catch (err) {
    return { code: err.error?.code ?? err.info?.error?.code ?? null };
  }
  throw new Error("expected an error");
});

process.stdout.write(JSON.stringify(out, (_, v) => (typeof v === "bigint" ? v.toString() : v), 2) + "\n");
process.exit(out.errors.length ? 1 : 0);
