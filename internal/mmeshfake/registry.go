package mmeshfake

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// model-mesh's registry in etcd: the records of models and vmodels, read and written in transactions.

func nowMs() int64 { return time.Now().UnixMilli() }

func (c *cluster) modelKey(id string) string { return c.prefix + "registry/" + id }

func (c *cluster) vmodelKey(id string) string { return c.prefix + "vmodels/" + id }

func etcdCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), etcdTimeout)
}

// storedModel is a registry record with the model id its key names.
type storedModel struct {
	id string
	mr modelRecord
}

// models reads every registry record of the cluster; a record that does not decode is skipped.
func (c *cluster) models() ([]storedModel, error) {
	ctx, cancel := etcdCtx()
	defer cancel()
	resp, err := c.etcd.Get(ctx, c.prefix+"registry/", clientv3.WithPrefix())
	if err != nil {
		return nil, err
	}
	models := make([]storedModel, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var mr modelRecord
		if err := json.Unmarshal(kv.Value, &mr); err != nil {
			continue
		}
		models = append(models, storedModel{id: strings.TrimPrefix(string(kv.Key), c.prefix+"registry/"), mr: mr})
	}
	return models, nil
}

func (c *cluster) getModel(id string) (*modelRecord, error) {
	var mr modelRecord
	ok, err := c.get(c.modelKey(id), &mr)
	if !ok || err != nil {
		return nil, err
	}
	return &mr, nil
}

func (c *cluster) getVModel(id string) (*vmodelRecord, error) {
	var vmr vmodelRecord
	ok, err := c.get(c.vmodelKey(id), &vmr)
	if !ok || err != nil {
		return nil, err
	}
	return &vmr, nil
}

func (c *cluster) get(key string, into any) (bool, error) {
	ctx, cancel := etcdCtx()
	defer cancel()
	resp, err := c.etcd.Get(ctx, key)
	if err != nil {
		return false, err
	}
	if len(resp.Kvs) == 0 {
		return false, nil
	}
	if err := json.Unmarshal(resp.Kvs[0].Value, into); err != nil {
		return false, fmt.Errorf("registry record %s: %w", key, err)
	}
	return true, nil
}

// commit applies ops in one etcd transaction, as model-mesh's TableTxn does, so the controller's
// watch never sees half of an update.
func (c *cluster) commit(ops ...clientv3.Op) error {
	if len(ops) == 0 {
		return nil
	}
	ctx, cancel := etcdCtx()
	defer cancel()
	if _, err := c.etcd.Txn(ctx).Then(ops...).Commit(); err != nil {
		return err
	}
	c.cancelLoads(ops)
	return nil
}

func (c *cluster) putModel(id string, mr *modelRecord) clientv3.Op {
	return clientv3.OpPut(c.modelKey(id), string(marshalRecord(mr)))
}

func (c *cluster) putVModel(id string, vmr *vmodelRecord) clientv3.Op {
	return clientv3.OpPut(c.vmodelKey(id), string(marshalRecord(vmr)))
}
