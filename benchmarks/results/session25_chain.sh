#!/bin/bash
# session 25: demo anatomy candidates, strictly serial
cd /work/main; source .venv/bin/activate
LOG=runs/session25_chain.log
step() { echo "$(date -u +%H:%M:%S) START $1" >> $LOG; shift; "$@" > runs/$(echo "$*" | md5sum | cut -c1-8).out 2>&1; echo "$(date -u +%H:%M:%S) END rc=$? $*" >> $LOG; }
GAN="train.max_minutes=4.55 train.max_epochs=1000 gan.weight=0.8 gan.start=0.6 gan.channels=32 gan.decoder_only=true gan.crop=32 prior.classes=8"
step ae8 vqmri train --data sample:brain --preset sample --out runs/d8 model.downsample=8 $GAN
step ev8 vqmri evaluate runs/d8 --split test
step pr8 vqmri train-prior runs/d8 --max-minutes 2.1 --max-epochs 1000 prior.channels=64 prior.layers=10 prior.dropout=0.1 prior.augment=8 prior.augment_degrees=0.0
step ep8 vqmri evaluate-prior runs/d8 --split test
step s8 vqmri sample runs/d8 -n 32 --out runs/d8-s
step ae16 vqmri train --data sample:brain --preset sample --out runs/d16 $GAN
step ev16 vqmri evaluate runs/d16 --split test
step pr16 vqmri train-prior runs/d16 --max-minutes 2.1 --max-epochs 1000 prior.channels=64 prior.layers=10 prior.dropout=0.1 prior.augment=8 prior.augment_degrees=0.0
step ep16 vqmri evaluate-prior runs/d16 --split test
step s16 vqmri sample runs/d16 -n 32 --out runs/d16-s
echo "$(date -u +%H:%M:%S) CHAIN DONE" >> $LOG
#!/bin/bash
# session 25: refiner probe, strictly serial, after the fresh-clone demo
cd /work/main; source .venv/bin/activate
LOG=runs/session25_chain.log
while ! grep -q "^real" /tmp/fresh2_demo.log; do sleep 10; done
step() { echo "$(date -u +%H:%M:%S) START $1" >> $LOG; shift; "$@" > runs/$(echo "$*" | md5sum | cut -c1-8).out 2>&1; echo "$(date -u +%H:%M:%S) END rc=$? $*" >> $LOG; }
step plain21 vqmri train --data ../shared/data/oasis --preset realistic --out runs/plain21 gan.weight=0 train.max_minutes=null train.max_epochs=10
step refS python benchmarks/experiments/refiner_probe.py runs/plain21 runs/refS.json 20 1.0 spectral 32
step refB python benchmarks/experiments/refiner_probe.py runs/plain21 runs/refB.json 20 1.0 batch 32
echo "$(date -u +%H:%M:%S) CHAIN DONE" >> $LOG
#!/bin/bash
cd /work/main; source .venv/bin/activate
LOG=runs/session25_chain.log
step() { echo "$(date -u +%H:%M:%S) START $1" >> $LOG; shift; "$@" > runs/$(echo "$*" | md5sum | cut -c1-8).out 2>&1; echo "$(date -u +%H:%M:%S) END rc=$? $*" >> $LOG; }
step sdemo vqmri sample /tmp/fresh2/runs/demo -n 128 --out runs/demo-s128
step hdemo python benchmarks/sample_headline.py /tmp/fresh2/runs/demo runs/demo-s128 runs/demo_headline.json test 0 --four
step s16 vqmri sample runs/d16 -n 128 --out runs/d16-s128
step h16 python benchmarks/sample_headline.py runs/d16 runs/d16-s128 runs/d16_headline.json test 0 --four
echo "$(date -u +%H:%M:%S) CHAIN DONE" >> $LOG
#!/bin/bash
cd /work/main; source .venv/bin/activate
LOG=runs/session25_chain.log
step() { echo "$(date -u +%H:%M:%S) START $1" >> $LOG; shift; "$@" > runs/$(echo "$*" | md5sum | cut -c1-8).out 2>&1; echo "$(date -u +%H:%M:%S) END rc=$? $*" >> $LOG; }
GAN="train.max_minutes=4.55 train.max_epochs=1000 gan.weight=0.8 gan.start=0.6 gan.channels=32 gan.decoder_only=true gan.crop=32 prior.classes=8"
step ae8k vqmri train --data sample:brain --preset sample --out runs/d8k model.downsample=8 model.codebook_size=512 $GAN
step ev8k vqmri evaluate runs/d8k --split test
step pr8k vqmri train-prior runs/d8k --max-minutes 2.1 --max-epochs 1000 prior.channels=64 prior.layers=10 prior.dropout=0.1 prior.augment=8 prior.augment_degrees=0.0
step ep8k vqmri evaluate-prior runs/d8k --split test
step s8k vqmri sample runs/d8k -n 128 --out runs/d8k-s128
step h8k python benchmarks/sample_headline.py runs/d8k runs/d8k-s128 runs/d8k_headline.json test 0 --four
echo "$(date -u +%H:%M:%S) CHAIN DONE" >> $LOG
