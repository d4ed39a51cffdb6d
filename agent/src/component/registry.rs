//! The registry: every source, transform and sink the agent has, one line each.
//!
//! Each kind's folder holds its registry: [`crate::sources`], [`crate::transforms`] and
//! [`crate::sinks`] each invoke [`registry!`] once, with one line per component: its table key
//! (also its folder's name) and its config type in that folder. From that line the macro
//! declares the folder's module, the component's field of the `[sources]`, `[transforms]` or
//! `[sinks]` table (defaulted, `deny_unknown_fields`) and its place in
//! `components()`. `check-config` validates each one in this order and the topology builds
//! them in it: sources, the sinks a transform feeds ([`Component::before_transforms`]:
//! `alertmanager`), transforms, the other sinks (which find the transforms on their path, e.g.
//! `loki` finds `log_patterns`). Adding a component is a new folder plus one line in its kind's
//! registry; nothing else names it.
//!
//! [`Component::before_transforms`]: super::Component::before_transforms

use super::{Component, ComponentKind};

/// A registered component: its kind, its id (the table key) and its config.
pub type Registered<'a> = (ComponentKind, &'static str, &'a dyn Component);

/// Declares one kind's components: `registry!(Name, kind, { id: ConfigType, ... })` makes
/// `pub mod id;` for each (the folder `<kind>/<id>/`), the table struct `Name` with one
/// defaulted field `id: id::ConfigType` per component, and `Name::components()` listing them in
/// the order given.
macro_rules! registry {
    ($(#[$meta:meta])* $name:ident, $kind:expr, {
        $($(#[$fmeta:meta])* $id:ident: $ty:ident,)*
    }) => {
        $(pub mod $id;)*

        $(#[$meta])*
        #[derive(Debug, Clone, Default, serde::Deserialize, PartialEq)]
        #[serde(deny_unknown_fields)]
        pub struct $name {
            $($(#[$fmeta])* #[serde(default)] pub $id: $id::$ty,)*
        }

        impl $name {
            /// The table's components, in registry order.
            pub fn components(&self) -> Vec<$crate::component::Registered<'_>> {
                vec![$(
                    ($kind, stringify!($id), &self.$id as &dyn $crate::component::Component),
                )*]
            }
        }
    };
}

pub(crate) use registry;
