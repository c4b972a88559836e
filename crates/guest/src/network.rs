//! The pod's NIC (the VM's virtio-net device, `eth0`) configured over netlink.

use canopy_guest::protocol::NetworkConfig;
use futures::TryStreamExt;
use rtnetlink::{LinkUnspec, RouteMessageBuilder};

use crate::containers::Failure;

async fn link_up(handle: &rtnetlink::Handle, name: &str) -> Result<u32, Failure> {
    let link = handle
        .link()
        .get()
        .match_name(name.to_string())
        .execute()
        .try_next()
        .await
        .map_err(|e| Failure::internal(format!("finding {name}: {e}")))?
        .ok_or_else(|| Failure::internal(format!("the VM has no {name}")))?;
    let index = link.header.index;
    handle
        .link()
        .set(LinkUnspec::new_with_index(index).up().build())
        .execute()
        .await
        .map_err(|e| Failure::internal(format!("bringing {name} up: {e}")))?;
    Ok(index)
}

pub async fn configure(config: &NetworkConfig) -> Result<(), Failure> {
    let (connection, handle, _) =
        rtnetlink::new_connection().map_err(|e| Failure::internal(format!("opening netlink: {e}")))?;
    let connection = tokio::spawn(connection);
    let result = async {
        link_up(&handle, "lo").await?;
        let eth0 = link_up(&handle, "eth0").await?;
        handle
            .address()
            .add(eth0, config.address.into(), config.prefix)
            .execute()
            .await
            .map_err(|e| Failure::internal(format!("adding {}/{}: {e}", config.address, config.prefix)))?;
        let route = RouteMessageBuilder::<std::net::Ipv4Addr>::new().gateway(config.gateway).build();
        handle
            .route()
            .add(route)
            .execute()
            .await
            .map_err(|e| Failure::internal(format!("adding the default route via {}: {e}", config.gateway)))
    }
    .await;
    connection.abort();
    result
}
