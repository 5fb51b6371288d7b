//! A test host: the SDK's `TestVM` for storage, block, message and logs, plus in-memory
//! ERC-20 tokens that actually execute `transfer`, `transferFrom` and `balanceOf`.
//!
//! The TestVM's own `mock_call` cannot model a call sequence (its `read_return_data`
//! returns the data of the last registered mock, whichever call matched), and a swap makes
//! three token calls with different answers. This host answers every call with its own
//! return data, moves real balances (so tests check conservation), models misbehaving
//! tokens (no return value, `false`, revert, fee-on-transfer) and can run a hook inside a
//! token call to attempt reentrancy.

use alloy_primitives::{Address, B256, U256};
use std::{cell::RefCell, collections::HashMap, rc::Rc};
use stylus_sdk::{
    stylus_core::{
        AccountAccess, BlockAccess, CalldataAccess, ChainAccess, CryptographyAccess, Host, MemoryAccess,
        MessageAccess, MeteringAccess, RawLogAccess, StorageAccess, UnsafeCallAccess, UnsafeDeploymentAccess,
    },
    testing::TestVM,
};

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Returns `true`.
    Standard,
    /// Returns nothing (USDT style).
    NoReturn,
    /// Returns `false` without moving anything.
    ReturnsFalse,
    /// Reverts with `Error("paused")`.
    Reverts,
    /// Delivers `amount − amount·bps/10⁴` to the receiver, the rest is burned.
    FeeOnTransfer(u64),
}

pub struct Token {
    pub mode: Mode,
    pub balances: HashMap<Address, U256>,
}

pub type Hook = Rc<dyn Fn()>;

#[derive(Default)]
pub struct World {
    pub tokens: HashMap<Address, Token>,
    ret: Vec<u8>,
    /// Runs (once) inside the next token call.
    pub hook: Option<Hook>,
    pub calls: usize,
}

#[derive(Clone)]
pub struct TokenHost {
    pub vm: TestVM,
    pub world: Rc<RefCell<World>>,
}

pub fn revert_reason(msg: &str) -> Vec<u8> {
    use alloy_sol_types::{Revert, SolError};
    Revert { reason: msg.into() }.abi_encode()
}

impl TokenHost {
    pub fn new(vm: TestVM) -> Self {
        Self { vm, world: Rc::new(RefCell::new(World::default())) }
    }

    pub fn add_token(&self, token: Address, mode: Mode) {
        self.world.borrow_mut().tokens.insert(token, Token { mode, balances: HashMap::new() });
    }

    pub fn set_mode(&self, token: Address, mode: Mode) {
        self.world.borrow_mut().tokens.get_mut(&token).unwrap().mode = mode;
    }

    pub fn balance(&self, token: Address, who: Address) -> U256 {
        self.world.borrow().tokens[&token].balances.get(&who).copied().unwrap_or_default()
    }

    pub fn mint(&self, token: Address, to: Address, amount: U256) {
        let mut w = self.world.borrow_mut();
        let b = w.tokens.get_mut(&token).unwrap().balances.entry(to).or_default();
        *b += amount;
    }

    /// Sends tokens to `to` outside the AMM (a donation).
    pub fn donate(&self, token: Address, from: Address, to: Address, amount: U256) {
        let mut w = self.world.borrow_mut();
        let t = w.tokens.get_mut(&token).unwrap();
        *t.balances.get_mut(&from).unwrap() -= amount;
        *t.balances.entry(to).or_default() += amount;
    }

    pub fn snapshot_tokens(&self) -> Vec<(Address, HashMap<Address, U256>)> {
        self.world.borrow().tokens.iter().map(|(a, t)| (*a, t.balances.clone())).collect()
    }

    pub fn restore_tokens(&self, saved: Vec<(Address, HashMap<Address, U256>)>) {
        let mut w = self.world.borrow_mut();
        for (a, b) in saved {
            w.tokens.get_mut(&a).unwrap().balances = b;
        }
    }

    pub fn set_hook(&self, hook: Hook) {
        self.world.borrow_mut().hook = Some(hook);
    }

    /// Executes an ERC-20 call made by the AMM. Returns (success, return data).
    fn execute(&self, to: Address, data: &[u8], is_static: bool) -> (bool, Vec<u8>) {
        let hook = {
            let mut w = self.world.borrow_mut();
            w.calls += 1;
            w.hook.take()
        };
        if let Some(h) = hook {
            h();
        }
        let caller = self.vm.contract_address();
        let mut w = self.world.borrow_mut();
        let Some(token) = w.tokens.get_mut(&to) else { return (true, Vec::new()) };
        let word = |i: usize| U256::from_be_slice(&data[4 + 32 * i..4 + 32 * (i + 1)]);
        let addr = |i: usize| Address::from_word(B256::from(word(i)));
        let sel: [u8; 4] = data[..4].try_into().unwrap();
        let true_word = U256::from(1).to_be_bytes::<32>().to_vec();
        if sel == amm_core::selectors::BALANCE_OF {
            let b = token.balances.get(&addr(0)).copied().unwrap_or_default();
            return (true, b.to_be_bytes::<32>().to_vec());
        }
        if is_static {
            return (false, Vec::new());
        }
        let (from, recv, amount) = if sel == amm_core::selectors::TRANSFER {
            (caller, addr(0), word(1))
        } else if sel == amm_core::selectors::TRANSFER_FROM {
            (addr(0), addr(1), word(2))
        } else {
            return (false, Vec::new());
        };
        match token.mode {
            Mode::Reverts => return (false, revert_reason("paused")),
            Mode::ReturnsFalse => return (true, U256::ZERO.to_be_bytes::<32>().to_vec()),
            _ => {}
        }
        let bal = token.balances.get(&from).copied().unwrap_or_default();
        if bal < amount {
            return (false, revert_reason("insufficient balance"));
        }
        token.balances.insert(from, bal - amount);
        let delivered = match token.mode {
            Mode::FeeOnTransfer(bps) => amount - amount * U256::from(bps) / U256::from(10_000),
            _ => amount,
        };
        *token.balances.entry(recv).or_default() += delivered;
        match token.mode {
            Mode::NoReturn => (true, Vec::new()),
            _ => (true, true_word),
        }
    }

    fn answer(&self, ok: bool, ret: Vec<u8>, outs_len: &mut usize) -> u8 {
        *outs_len = ret.len();
        self.world.borrow_mut().ret = ret;
        if ok {
            0
        } else {
            1
        }
    }
}

impl Host for TokenHost {}

impl CryptographyAccess for TokenHost {
    fn native_keccak256(&self, input: &[u8]) -> B256 {
        self.vm.native_keccak256(input)
    }
}

impl CalldataAccess for TokenHost {
    fn read_args(&self, len: usize) -> Vec<u8> {
        self.vm.read_args(len)
    }
    fn read_return_data(&self, offset: usize, size: Option<usize>) -> Vec<u8> {
        let w = self.world.borrow();
        let start = offset.min(w.ret.len());
        let end = size.map_or(w.ret.len(), |s| (start + s).min(w.ret.len()));
        w.ret[start..end].to_vec()
    }
    fn return_data_size(&self) -> usize {
        self.world.borrow().ret.len()
    }
    fn write_result(&self, data: &[u8]) {
        self.vm.write_result(data)
    }
}

unsafe impl UnsafeDeploymentAccess for TokenHost {
    unsafe fn create1(
        &self,
        code: *const u8,
        code_len: usize,
        endowment: *const u8,
        contract: *mut u8,
        revert_data_len: *mut usize,
    ) {
        self.vm.create1(code, code_len, endowment, contract, revert_data_len)
    }
    unsafe fn create2(
        &self,
        code: *const u8,
        code_len: usize,
        endowment: *const u8,
        salt: *const u8,
        contract: *mut u8,
        revert_data_len: *mut usize,
    ) {
        self.vm.create2(code, code_len, endowment, salt, contract, revert_data_len)
    }
}

impl StorageAccess for TokenHost {
    fn storage_load_bytes32(&self, key: U256) -> B256 {
        self.vm.storage_load_bytes32(key)
    }
    unsafe fn storage_cache_bytes32(&self, key: U256, value: B256) {
        self.vm.storage_cache_bytes32(key, value)
    }
    fn flush_cache(&self, clear: bool) {
        self.vm.flush_cache(clear)
    }
}

unsafe impl UnsafeCallAccess for TokenHost {
    unsafe fn call_contract(
        &self,
        to: *const u8,
        data: *const u8,
        data_len: usize,
        _value: *const u8,
        _gas: u64,
        outs_len: &mut usize,
    ) -> u8 {
        let to = Address::from_slice(std::slice::from_raw_parts(to, 20));
        let data = std::slice::from_raw_parts(data, data_len).to_vec();
        let (ok, ret) = self.execute(to, &data, false);
        self.answer(ok, ret, outs_len)
    }
    unsafe fn static_call_contract(
        &self,
        to: *const u8,
        data: *const u8,
        data_len: usize,
        _gas: u64,
        outs_len: &mut usize,
    ) -> u8 {
        let to = Address::from_slice(std::slice::from_raw_parts(to, 20));
        let data = std::slice::from_raw_parts(data, data_len).to_vec();
        let (ok, ret) = self.execute(to, &data, true);
        self.answer(ok, ret, outs_len)
    }
    unsafe fn delegate_call_contract(
        &self,
        _to: *const u8,
        _data: *const u8,
        _len: usize,
        _gas: u64,
        outs_len: &mut usize,
    ) -> u8 {
        self.answer(false, Vec::new(), outs_len)
    }
}

impl BlockAccess for TokenHost {
    fn block_basefee(&self) -> U256 {
        self.vm.block_basefee()
    }
    fn block_coinbase(&self) -> Address {
        self.vm.block_coinbase()
    }
    fn block_number(&self) -> u64 {
        self.vm.block_number()
    }
    fn block_timestamp(&self) -> u64 {
        self.vm.block_timestamp()
    }
    fn block_gas_limit(&self) -> u64 {
        self.vm.block_gas_limit()
    }
}

impl ChainAccess for TokenHost {
    fn chain_id(&self) -> u64 {
        self.vm.chain_id()
    }
}

impl AccountAccess for TokenHost {
    fn balance(&self, account: Address) -> U256 {
        self.vm.balance(account)
    }
    fn contract_address(&self) -> Address {
        self.vm.contract_address()
    }
    fn code(&self, account: Address) -> Vec<u8> {
        self.vm.code(account)
    }
    fn code_size(&self, account: Address) -> usize {
        if self.world.borrow().tokens.contains_key(&account) || account == super::facade::LIQUIDITY {
            1
        } else {
            0
        }
    }
    fn code_hash(&self, account: Address) -> B256 {
        self.vm.code_hash(account)
    }
}

impl MemoryAccess for TokenHost {
    fn pay_for_memory_grow(&self, pages: u16) {
        self.vm.pay_for_memory_grow(pages)
    }
}

impl MessageAccess for TokenHost {
    fn msg_sender(&self) -> Address {
        self.vm.msg_sender()
    }
    fn msg_reentrant(&self) -> bool {
        self.vm.msg_reentrant()
    }
    fn msg_value(&self) -> U256 {
        self.vm.msg_value()
    }
    fn tx_origin(&self) -> Address {
        self.vm.tx_origin()
    }
}

impl MeteringAccess for TokenHost {
    fn evm_gas_left(&self) -> u64 {
        self.vm.evm_gas_left()
    }
    fn evm_ink_left(&self) -> u64 {
        self.vm.evm_ink_left()
    }
    fn tx_gas_price(&self) -> U256 {
        self.vm.tx_gas_price()
    }
    fn tx_ink_price(&self) -> u32 {
        self.vm.tx_ink_price()
    }
}

impl RawLogAccess for TokenHost {
    fn emit_log(&self, input: &[u8], num_topics: usize) {
        self.vm.emit_log(input, num_topics)
    }
    fn raw_log(&self, topics: &[B256], data: &[u8]) -> Result<(), &'static str> {
        self.vm.raw_log(topics, data)
    }
}
