//! Industrial control systems: Modbus/TCP, Siemens S7comm, and the
//! conpot-style decky that serves both as one PLC. What they share is the
//! [`PlcPersona`] (vendor, module, firmware, plant), seeded per decky.

pub mod conpot;
pub mod modbus;
pub mod s7;

use rand::seq::SliceRandom;
use rand::Rng;

use crate::ctx::DeckyCtx;

/// The PLC a decky pretends to be.
#[derive(Clone, Debug)]
pub struct PlcPersona {
    /// Vendor (`Siemens`).
    pub vendor: &'static str,
    /// Order number (MLFB) of the CPU module.
    pub mlfb: &'static str,
    /// Module type name (`CPU 315-2 PN/DP`).
    pub module_type: &'static str,
    /// Product family (`SIMATIC S7-300`).
    pub family: &'static str,
    /// Firmware version.
    pub firmware: (u8, u8, u8),
    /// PLC (system) name.
    pub system_name: String,
    /// Plant identification.
    pub plant: String,
    /// Serial number.
    pub serial: String,
}

/// (MLFB, module type, family, firmware).
type Model = (&'static str, &'static str, &'static str, (u8, u8, u8));

const MODELS: &[Model] = &[
    (
        "6ES7 315-2EH14-0AB0",
        "CPU 315-2 PN/DP",
        "SIMATIC S7-300",
        (3, 2, 6),
    ),
    (
        "6ES7 317-2EK14-0AB0",
        "CPU 317-2 PN/DP",
        "SIMATIC S7-300",
        (3, 2, 8),
    ),
    (
        "6ES7 214-1AG40-0XB0",
        "CPU 1214C DC/DC/DC",
        "SIMATIC S7-1200",
        (4, 2, 3),
    ),
];

impl PlcPersona {
    /// Seeded persona; `[decky.<service>] plant = …` / `system_name = …` override.
    pub fn for_decky(decky: &DeckyCtx, service: &str) -> Self {
        let mut rng = decnet_core::DeckySeed::new(decky.name(), decky.generation).rng("plc");
        let (mlfb, module_type, family, firmware) = *MODELS.choose(&mut rng).unwrap_or(&MODELS[0]);
        let plant = decky
            .config(service, "plant")
            .map(str::to_owned)
            .unwrap_or_else(|| {
                [
                    "Water Treatment Plant 2",
                    "Pump Station North",
                    "Boiler House B",
                    "Line 3 Packaging",
                    "Substation 14",
                ]
                .choose(&mut rng)
                .copied()
                .unwrap_or("Plant")
                .to_owned()
            });
        let system_name = decky
            .config(service, "system_name")
            .map(str::to_owned)
            .unwrap_or_else(|| {
                let host: String = decky
                    .persona
                    .hostname
                    .to_uppercase()
                    .chars()
                    .take(12)
                    .collect();
                format!("PLC-{}", host.trim_end_matches(['-', '.']))
            });
        let serial = format!(
            "S C-{}{:08}",
            ["C2UR", "H6T1", "E0K4"].choose(&mut rng).unwrap_or(&"C2UR"),
            rng.gen_range(0..100_000_000u32)
        );
        PlcPersona {
            vendor: "Siemens",
            mlfb,
            module_type,
            family,
            firmware,
            system_name,
            plant,
            serial,
        }
    }

    /// `V3.2.6`.
    pub fn firmware_string(&self) -> String {
        let (a, b, c) = self.firmware;
        format!("V{a}.{b}.{c}")
    }
}
