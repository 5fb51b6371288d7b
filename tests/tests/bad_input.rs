//! Bad input at the boundaries a stranger can reach, on the real wasm: every state-changing
//! function of every deployed contract called with calldata that does not decode, and
//! malformed JSON-RPC sent to the devnet. Each gets a clear failure and changes nothing.

use alloy::{
    primitives::{keccak256, Address, Bytes, U256},
    providers::Provider,
    rpc::types::TransactionRequest,
};
use e2e::{report, IAmm, IMarket, IVault, System};
use serde_json::Value;

/// The canonical Solidity type of a JSON ABI parameter (tuples expanded).
fn canonical(param: &Value) -> String {
    let ty = param["type"].as_str().unwrap();
    match ty.strip_prefix("tuple") {
        Some(suffix) => {
            let inner: Vec<String> = param["components"].as_array().unwrap().iter().map(canonical).collect();
            format!("({}){suffix}", inner.join(","))
        }
        None => ty.to_owned(),
    }
}

/// `(contract key, address, function signature)` of every state-changing function with
/// parameters, from the committed JSON ABIs.
fn mutating_functions(s: &System) -> Vec<(String, Address, String)> {
    let root = deployer::workspace_root();
    let mut out = Vec::new();
    for (key, rec) in &s.record.contracts {
        // abi/ names files after the package: `mock-erc20` -> MockErc20.json. The AMM's
        // second program is called through `amm`, whose ABI includes it.
        if rec.package == "amm-liquidity" {
            continue;
        }
        let name: String = rec.package.split('-').map(|w| w[..1].to_uppercase() + &w[1..]).collect();
        let text = std::fs::read_to_string(root.join(format!("abi/{name}.json"))).unwrap();
        let abi: Value = serde_json::from_str(&text).unwrap();
        for f in abi.as_array().unwrap() {
            let mutating = matches!(f["stateMutability"].as_str(), Some("nonpayable" | "payable"));
            let inputs = f["inputs"].as_array().map(|a| a.to_vec()).unwrap_or_default();
            if f["type"] != "function" || !mutating || inputs.is_empty() {
                continue;
            }
            let types: Vec<String> = inputs.iter().map(canonical).collect();
            out.push((
                key.clone(),
                rec.address,
                format!("{}({})", f["name"].as_str().unwrap(), types.join(",")),
            ));
        }
    }
    out
}

/// What a stranger could hope to change: the pool, the market's jobs, the provider's stake.
async fn observable(s: &System) -> (U256, U256, U256, U256) {
    let amm = IAmm::new(s.at("amm"), s.anyone.p.clone());
    let pool = U256::from_be_bytes(s.seeded.pool_id.unwrap().0);
    let r = amm.getReserves(pool).call().await.unwrap();
    let jobs = IMarket::new(s.at("market"), s.anyone.p.clone()).jobCount().call().await.unwrap();
    let stake =
        IVault::new(s.at("vault"), s.anyone.p.clone()).operatorStake(s.seeded.provider).call().await.unwrap();
    (r._0, r._1, jobs, stake._0)
}

#[tokio::test(flavor = "multi_thread")]
async fn calldata_that_does_not_decode_reverts_everywhere_and_changes_nothing() {
    let s = System::start().await;
    let before = observable(&s).await;
    let functions = mutating_functions(&s);
    assert!(functions.len() > 40, "every contract's mutating surface: {}", functions.len());
    let mut reverted = 0;
    for (key, to, sig) in &functions {
        // The selector and five stray bytes: shorter than any parameter list.
        let mut data = keccak256(sig.as_bytes())[..4].to_vec();
        data.extend_from_slice(&[0xff; 5]);
        let tx = TransactionRequest::default().to(*to).input(Bytes::from(data).into()).gas_limit(3_000_000);
        assert!(s.anyone.p.call(tx.clone()).await.is_err(), "{key}.{sig} must revert in eth_call");
        let receipt = s.anyone.p.send_transaction(tx).await.unwrap().get_receipt().await.unwrap();
        assert!(!receipt.status(), "{key}.{sig} must revert when mined");
        reverted += 1;
    }
    // Unknown selectors and empty calldata too.
    for (key, rec) in &s.record.contracts {
        for data in [vec![0xde, 0xad, 0xbe, 0xef], vec![]] {
            let tx = TransactionRequest::default().to(rec.address).input(Bytes::from(data.clone()).into());
            assert!(s.anyone.p.call(tx).await.is_err(), "{key} with {data:02x?}");
        }
    }
    assert_eq!(observable(&s).await, before, "state unchanged");
    println!("{reverted} functions refused undecodable calldata");
    report("bad calldata", &s);
}

/// Raw HTTP to the devnet's JSON-RPC endpoint.
async fn post(url: &str, body: &str) -> Value {
    let url = url.strip_prefix("http://").unwrap();
    let (host, path) = url.split_once('/').map(|(h, p)| (h, format!("/{p}"))).unwrap_or((url, "/".into()));
    let mut stream = tokio::net::TcpStream::connect(host).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream.write_all(req.as_bytes()).await.unwrap();
    let mut resp = String::new();
    stream.read_to_string(&mut resp).await.unwrap();
    let (_, body) = resp.split_once("\r\n\r\n").expect("an HTTP response");
    serde_json::from_str(body.trim()).unwrap_or_else(|e| panic!("a JSON-RPC answer ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json_rpc_gets_errors_and_the_chain_goes_on() {
    let s = System::start().await;
    let url = s.devnet.url();
    let height = s.anyone.p.get_block_number().await.unwrap();
    let cases = [
        ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":", -32700),
        ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_noSuchMethod\",\"params\":[]}", -32601),
        ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_getBalance\",\"params\":[\"0xnot-an-address\",\"latest\"]}", -32602),
        ("{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"eth_sendRawTransaction\",\"params\":[\"0x02deadbeef\"]}", 0),
    ];
    for (body, code) in cases {
        let answer = post(&url, body).await;
        let error = &answer["error"];
        assert!(error.is_object(), "{body} -> {answer}");
        assert!(!error["message"].as_str().unwrap_or_default().is_empty(), "a message for {body}");
        if code != 0 {
            assert_eq!(error["code"].as_i64(), Some(code), "{body} -> {answer}");
        }
    }
    assert_eq!(s.anyone.p.get_block_number().await.unwrap(), height, "nothing mined");
    report("malformed JSON-RPC", &s);
}
