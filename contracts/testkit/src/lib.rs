//! A Stylus test host: the SDK's `TestVM` with per-call mocked return data, failing
//! unmocked calls and a record of every call made. See README.md.

use std::{cell::RefCell, collections::HashMap, ops::Deref, rc::Rc, slice};

use alloy_primitives::{Address, B256, U256};
use stylus_sdk::{stylus_core::host::*, testing::TestVM};

/// Revert data of a call nobody mocked.
pub const UNMOCKED: &[u8] = b"testkit: unmocked call";

/// How a contract called out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    Call,
    StaticCall,
    DelegateCall,
}

/// One call the contract made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    pub kind: CallKind,
    pub to: Address,
    pub data: Vec<u8>,
    pub value: U256,
}

type Answer = Result<Vec<u8>, Vec<u8>>;

#[derive(Default)]
struct Mocks {
    calls: HashMap<(Address, Vec<u8>, U256), Answer>,
    static_calls: HashMap<(Address, Vec<u8>), Answer>,
    return_data: Vec<u8>,
    log: Vec<RecordedCall>,
}

/// The SDK's `TestVM` (reachable through `Deref`) with reliable call mocks.
#[derive(Clone)]
pub struct TestHost {
    vm: TestVM,
    mocks: Rc<RefCell<Mocks>>,
}

impl TestHost {
    pub fn new(vm: TestVM) -> Self {
        Self { vm, mocks: Rc::default() }
    }

    /// Answers a `call` to `to` with exactly `data` and `value`.
    pub fn mock_call(&self, to: Address, data: Vec<u8>, value: U256, answer: Answer) {
        self.mocks.borrow_mut().calls.insert((to, data, value), answer);
    }

    /// Answers a `staticcall` to `to` with exactly `data`.
    pub fn mock_static_call(&self, to: Address, data: Vec<u8>, answer: Answer) {
        self.mocks.borrow_mut().static_calls.insert((to, data), answer);
    }

    /// Every call made so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.mocks.borrow().log.clone()
    }

    /// The calls made so far, forgetting them.
    pub fn take_calls(&self) -> Vec<RecordedCall> {
        std::mem::take(&mut self.mocks.borrow_mut().log)
    }

    /// Records a call and returns (status, return data length) as the host ABI does.
    fn answer(&self, kind: CallKind, to: Address, data: Vec<u8>, value: U256, outs_len: &mut usize) -> u8 {
        let mut m = self.mocks.borrow_mut();
        let answer = match kind {
            CallKind::Call => m.calls.get(&(to, data.clone(), value)).cloned(),
            CallKind::StaticCall => m.static_calls.get(&(to, data.clone())).cloned(),
            CallKind::DelegateCall => None,
        }
        .unwrap_or_else(|| Err(UNMOCKED.to_vec()));
        m.log.push(RecordedCall { kind, to, data, value });
        let (status, out) = match answer {
            Ok(out) => (0, out),
            Err(out) => (1, out),
        };
        *outs_len = out.len();
        m.return_data = out;
        status
    }
}

impl Deref for TestHost {
    type Target = TestVM;
    fn deref(&self) -> &TestVM {
        &self.vm
    }
}

impl Host for TestHost {}

impl CryptographyAccess for TestHost {
    fn native_keccak256(&self, input: &[u8]) -> B256 {
        self.vm.native_keccak256(input)
    }
}

impl CalldataAccess for TestHost {
    fn read_args(&self, len: usize) -> Vec<u8> {
        self.vm.read_args(len)
    }
    fn read_return_data(&self, offset: usize, size: Option<usize>) -> Vec<u8> {
        let m = self.mocks.borrow();
        let start = offset.min(m.return_data.len());
        let end = size.map_or(m.return_data.len(), |s| (start + s).min(m.return_data.len()));
        m.return_data[start..end].to_vec()
    }
    fn return_data_size(&self) -> usize {
        self.mocks.borrow().return_data.len()
    }
    fn write_result(&self, data: &[u8]) {
        self.vm.write_result(data)
    }
}

unsafe impl UnsafeDeploymentAccess for TestHost {
    unsafe fn create1(
        &self,
        code: *const u8,
        code_len: usize,
        endowment: *const u8,
        contract: *mut u8,
        revert_data_len: *mut usize,
    ) {
        unsafe { self.vm.create1(code, code_len, endowment, contract, revert_data_len) }
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
        unsafe { self.vm.create2(code, code_len, endowment, salt, contract, revert_data_len) }
    }
}

impl StorageAccess for TestHost {
    fn storage_load_bytes32(&self, key: U256) -> B256 {
        self.vm.storage_load_bytes32(key)
    }
    unsafe fn storage_cache_bytes32(&self, key: U256, value: B256) {
        unsafe { self.vm.storage_cache_bytes32(key, value) }
    }
    fn flush_cache(&self, clear: bool) {
        self.vm.flush_cache(clear)
    }
}

unsafe impl UnsafeCallAccess for TestHost {
    unsafe fn call_contract(
        &self,
        to: *const u8,
        data: *const u8,
        data_len: usize,
        value: *const u8,
        _gas: u64,
        outs_len: &mut usize,
    ) -> u8 {
        let (to, data, value) = unsafe {
            (
                Address::from_slice(slice::from_raw_parts(to, 20)),
                slice::from_raw_parts(data, data_len).to_vec(),
                U256::from_be_slice(slice::from_raw_parts(value, 32)),
            )
        };
        self.answer(CallKind::Call, to, data, value, outs_len)
    }
    unsafe fn static_call_contract(
        &self,
        to: *const u8,
        data: *const u8,
        data_len: usize,
        _gas: u64,
        outs_len: &mut usize,
    ) -> u8 {
        let (to, data) = unsafe {
            (
                Address::from_slice(slice::from_raw_parts(to, 20)),
                slice::from_raw_parts(data, data_len).to_vec(),
            )
        };
        self.answer(CallKind::StaticCall, to, data, U256::ZERO, outs_len)
    }
    unsafe fn delegate_call_contract(
        &self,
        to: *const u8,
        data: *const u8,
        data_len: usize,
        _gas: u64,
        outs_len: &mut usize,
    ) -> u8 {
        let (to, data) = unsafe {
            (
                Address::from_slice(slice::from_raw_parts(to, 20)),
                slice::from_raw_parts(data, data_len).to_vec(),
            )
        };
        self.answer(CallKind::DelegateCall, to, data, U256::ZERO, outs_len)
    }
}

impl BlockAccess for TestHost {
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

impl ChainAccess for TestHost {
    fn chain_id(&self) -> u64 {
        self.vm.chain_id()
    }
}

impl AccountAccess for TestHost {
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
        self.vm.code_size(account)
    }
    fn code_hash(&self, account: Address) -> B256 {
        self.vm.code_hash(account)
    }
}

impl MemoryAccess for TestHost {
    fn pay_for_memory_grow(&self, pages: u16) {
        self.vm.pay_for_memory_grow(pages)
    }
}

impl MessageAccess for TestHost {
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

impl MeteringAccess for TestHost {
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

impl RawLogAccess for TestHost {
    fn emit_log(&self, input: &[u8], num_topics: usize) {
        self.vm.emit_log(input, num_topics)
    }
    fn raw_log(&self, topics: &[B256], data: &[u8]) -> Result<(), &'static str> {
        self.vm.raw_log(topics, data)
    }
}
